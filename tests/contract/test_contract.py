"""The service is its contract: the served spec is the file, routes are its operations,
error codes are its enum, and the generated models are current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_spec_validator import validate

from auth_backend import errors
from auth_backend.contract import contract_path
from auth_backend.main import create_app
from tests.conftest import ROOT, make_settings

SPEC_PATH = ROOT / "openapi" / "openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "trace"}
# Served by the framework to render the contract; they are not operations of it.
DOCUMENTATION_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in SPEC["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def test_the_spec_is_valid_openapi_3_0() -> None:
    assert SPEC["openapi"] == "3.0.3"
    validate(SPEC)


async def test_served_spec_equals_the_file(service: httpx.AsyncClient) -> None:
    response = await service.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == SPEC


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_documentation_pages_render_the_served_spec(
    service: httpx.AsyncClient, page: str
) -> None:
    response = await service.get(page)
    assert response.status_code == 200
    assert "/openapi.json" in response.text


def test_routes_and_operations_are_the_same_set() -> None:
    app = create_app(make_settings(database_url="sqlite:///:memory:"))
    served = {
        (method, route.path, getattr(route, "operation_id", None))
        for route in app.routes
        if route.path not in DOCUMENTATION_ROUTES
        for method in getattr(route, "methods", set()) - {"HEAD"}
    }
    documented = {
        (method, path, operation["operationId"]) for method, path, operation in operations()
    }
    assert served == documented


@pytest.mark.parametrize(
    ("method", "path", "operation"), operations(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_operation_is_fully_documented(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    assert operation["operationId"][0].islower()
    assert len(operation["tags"]) == 1
    assert operation["summary"] and operation["description"]
    for status, response in operation["responses"].items():
        resolved = resolve(response)
        for media in resolved.get("content", {}).values():
            assert "examples" in media or "example" in media, (
                f"{method} {path} {status} lacks examples"
            )
    body = operation.get("requestBody")
    if body:
        for media in resolve(body)["content"].values():
            assert "examples" in media, f"{method} {path} request lacks examples"


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_problem_codes_are_exactly_the_error_vocabulary() -> None:
    documented = set(SPEC["components"]["schemas"]["ProblemCode"]["enum"])
    implemented = {error.code for error in errors.ALL_ERRORS}
    assert documented == implemented
    every_subclass = {cls.code for cls in _subclasses(errors.ServiceError)}
    assert every_subclass <= documented


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_error_statuses_are_documented_where_they_can_occur() -> None:
    # Every operation with a body documents 413 and 415; bearer operations document 401.
    for _method, _path, operation in operations():
        statuses = set(operation["responses"])
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= statuses
        if operation.get("security"):
            assert "401" in statuses


def test_generated_models_match_the_contract() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_models.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_models_are_marked_do_not_edit() -> None:
    head = (ROOT / "src" / "auth_backend" / "_generated_models.py").read_text(encoding="utf-8")[
        :200
    ]
    assert "DO NOT EDIT" in head


def test_packaged_contract_path_points_at_the_file() -> None:
    assert Path(contract_path()).read_bytes() == SPEC_PATH.read_bytes()
