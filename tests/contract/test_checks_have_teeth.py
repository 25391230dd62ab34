"""The contract checks fail when they should: each runs here against a deliberately broken
copy of the spec or the app and must object. A check that cannot fail proves nothing."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from auth_backend.main import create_app
from scripts.contract_diff import Base, breaking_changes, judge
from scripts.fuzz import hooks
from scripts.fuzz_contract import fuzz_service, local_target
from tests.contract.test_contract import (
    SPEC,
    documented_operations,
    lint_problems,
    served_operations,
)
from tests.contract.test_sdks import node_tool, prepare_typescript_program
from tests.support.services import make_settings


def spec_copy() -> dict[str, Any]:
    return copy.deepcopy(SPEC)


def write(spec: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def test_an_undocumented_route_or_mount_breaks_the_route_check() -> None:
    app: FastAPI = create_app(make_settings(database_url="sqlite:///:memory:"))

    async def debug() -> Response:
        return Response("debug")

    app.add_api_route("/debug", debug, methods=["GET"], operation_id="debug")
    assert ("GET", "/debug", "debug") in served_operations(app) - documented_operations(SPEC)
    app.mount("/admin", StaticFiles(directory=Path(__file__).parent))
    assert ("?", "/admin", "Mount") in served_operations(app)


def test_a_documented_operation_the_app_lacks_breaks_the_route_check() -> None:
    spec = spec_copy()
    spec["paths"]["/password-reset"] = {"post": {"operationId": "resetPassword"}}
    app = create_app(make_settings(database_url="sqlite:///:memory:"))
    missing = documented_operations(spec) - served_operations(app)
    assert ("POST", "/password-reset", "resetPassword") in missing


def test_the_linter_objects_to_an_operation_without_summary(tmp_path: Path) -> None:
    spec = spec_copy()
    del spec["paths"]["/health"]["get"]["summary"]
    report = lint_problems(write(spec, tmp_path / "openapi.yaml"))
    assert "operation-summary" in {problem["ruleId"] for problem in report["problems"]}


def test_a_breaking_change_without_a_major_bump_fails_the_diff_check() -> None:
    old = spec_copy()
    removed = spec_copy()
    del removed["paths"]["/me"]
    breaks = breaking_changes(old, removed)
    assert any("path.remove" in line for line in breaks), breaks
    assert not judge(Base("test", old), removed, breaks).ok
    major, minor, _patch = (int(part) for part in old["info"]["version"].split("."))
    removed["info"]["version"] = f"{major}.{minor + 1}.0" if major == 0 else f"{major + 1}.0.0"
    assert judge(Base("test", old), removed, breaks).ok


def test_a_silent_change_needs_a_version_bump() -> None:
    old, new = spec_copy(), spec_copy()
    new["paths"]["/health"]["get"]["summary"] = "Is it alive?"
    assert breaking_changes(old, new) == []
    assert not judge(Base("test", old), new, []).ok


def test_the_signup_hook_refuses_validation_failures_of_schema_valid_bodies() -> None:
    def case(password: str) -> Any:
        positive = SimpleNamespace(
            generation=SimpleNamespace(mode=SimpleNamespace(is_positive=True))
        )
        return SimpleNamespace(
            operation=SimpleNamespace(label="POST /signup"),
            meta=positive,
            body={"email": "a@example.com", "password": password},
        )

    def answer(code: str) -> Any:
        return SimpleNamespace(status_code=400, json=lambda: {"code": code})

    check = hooks.valid_signup_is_refused_only_for_its_password
    check(None, answer("weak_password"), case("short"))  # the documented rule: accepted
    with pytest.raises(AssertionError, match="validation_failed"):
        check(None, answer("validation_failed"), case("long enough password"))
    with pytest.raises(AssertionError, match="accepts"):
        check(None, answer("weak_password"), case("long enough password"))


@pytest.mark.slow
def test_the_fuzzer_finds_an_undocumented_status_and_field(tmp_path: Path) -> None:
    # The service as it is, judged by a contract that lacks the 415 it answers to a wrong
    # content type and the `last_sign_in_at` every User carries (additionalProperties: false).
    spec = spec_copy()
    del spec["paths"]["/signup"]["post"]["responses"]["415"]
    user = spec["components"]["schemas"]["User"]
    del user["properties"]["last_sign_in_at"]
    user["required"].remove("last_sign_in_at")
    for name in ("NewUser", "UserFromToken"):
        del spec["components"]["examples"][name]["value"]["last_sign_in_at"]
    del spec["components"]["examples"]["Tokens"]["value"]["user"]["last_sign_in_at"]
    result = fuzz_service(
        local_target(tmp_path),
        workdir=tmp_path,
        seed=1,
        max_examples=10,
        spec=write(spec, tmp_path / "openapi.yaml"),
        phases="examples,coverage",
    )
    assert not result.passed
    assert "Undocumented status code" in result.output, result.output
    assert "Response violates schema" in result.output, result.output


@pytest.mark.slow
def test_a_contract_change_that_breaks_client_code_fails_the_sdk_check(tmp_path: Path) -> None:
    spec = spec_copy()
    tokens = spec["components"]["schemas"]["TokenResponse"]
    tokens["properties"]["accessToken"] = tokens["properties"].pop("access_token")
    tokens["required"] = ["accessToken" if r == "access_token" else r for r in tokens["required"]]
    example = spec["components"]["examples"]["Tokens"]["value"]
    example["accessToken"] = example.pop("access_token")
    tsc = node_tool("tsc")
    prepare_typescript_program(tmp_path, spec=write(spec, tmp_path / "openapi.yaml"))
    result = subprocess.run(
        [str(tsc), "-p", str(tmp_path / "tsconfig.json")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode != 0
    assert "access_token" in result.stdout, result.stdout
