"""The service is its contract: the served spec is the file, routes are its operations,
error codes are its enum, and the generated models are current."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pydantic
import pytest
import yaml
from fastapi import FastAPI
from fastapi.routing import APIRoute
from openapi_spec_validator import validate
from pydantic_settings import BaseSettings

import auth_backend
from auth_backend import errors, models
from auth_backend.contract import contract_path
from auth_backend.main import create_app
from tests.support.services import ROOT, make_settings, service_missing

SPEC_PATH = ROOT / "openapi" / "openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "trace"}
# They render the contract (api/docs_routes.py); they are not operations of it.
DOCUMENTATION_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/docs/static"}
REDOCLY = ROOT / "tools" / "node_modules" / ".bin" / "redocly"
JSON = ("--format", "json")


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
async def test_documentation_pages_render_the_served_spec_from_local_assets(
    service: httpx.AsyncClient, page: str
) -> None:
    response = await service.get(page)
    assert response.status_code == 200
    assert "/openapi.json" in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]
    # No CDN: every script, stylesheet and icon is a path on this service, and it is there.
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert assets
    for asset in assets:
        assert asset.startswith("/docs/static/"), asset
        loaded = await service.get(asset)
        assert loaded.status_code == 200, asset
        assert loaded.content


def served_operations(app: FastAPI) -> set[tuple[str, str, str | None]]:
    """(method, path, operationId) of everything the app serves beyond its documentation;
    anything that is not a plain route (a mount, a websocket) appears as ("?", path, kind)."""
    served: set[tuple[str, str, str | None]] = set()
    for route in app.routes:
        path = getattr(route, "path", "?")
        if path in DOCUMENTATION_ROUTES:
            continue
        if not isinstance(route, APIRoute):
            served.add(("?", path, type(route).__name__))
            continue
        methods = route.methods or set()
        served |= {(method, path, route.operation_id) for method in methods - {"HEAD"}}
    return served


def documented_operations(spec: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    return {
        (method.upper(), path, operation["operationId"])
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def test_routes_and_operations_are_the_same_set() -> None:
    app = create_app(make_settings(database_url="sqlite:///:memory:"))
    assert served_operations(app) == documented_operations(SPEC)


# Models of another service's wire format (Supabase's answers), parsed inside the provider and
# never sent to our clients: providers do not use our wire models (docs/architecture.md).
UPSTREAM_MODELS = {
    "auth_backend.providers.supabase.provider._SupabaseUser",
    "auth_backend.providers.supabase.provider._SupabaseSession",
    "auth_backend.providers.supabase.provider._GeneratedLink",
}


def parameter_models() -> set[str]:
    """The models generated for operations' query and path parameters (api/params.py)."""
    names = set()
    for _method, _path, operation in operations():
        locations = {resolve(parameter)["in"] for parameter in operation.get("parameters", [])}
        for location in locations & {"query", "path"}:
            operation_id = operation["operationId"]
            names.add(f"{operation_id[0].upper()}{operation_id[1:]}Parameters{location.title()}")
    return names


def test_wire_models_are_only_the_generated_ones() -> None:
    # Bodies and parameters in and out are the contract's models: the facade exports one per
    # schema and one per operation's query or path parameters, and no other module of the
    # service defines a pydantic model of its own (but the provider's models of Supabase's
    # answers).
    assert parameter_models() == {"LogOutParametersQuery"}
    assert set(models.__all__) == set(SPEC["components"]["schemas"]) | parameter_models()
    for module in pkgutil.walk_packages(auth_backend.__path__, "auth_backend."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    homemade = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _subclasses(pydantic.BaseModel)
        if cls.__module__.startswith("auth_backend")
        and cls.__module__ != "auth_backend._generated_models"
        and not issubclass(cls, BaseSettings)
    ]
    assert set(homemade) == UPSTREAM_MODELS


def lint_problems(spec_path: Path) -> dict[str, Any]:
    """Redocly CLI's JSON report for `spec_path` under redocly.yaml."""
    if not REDOCLY.exists():
        service_missing(f"{REDOCLY} is missing: run `make node-tools`")
    result = subprocess.run(
        [str(REDOCLY), "lint", str(spec_path), "--config", str(ROOT / "redocly.yaml"), *JSON],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"},
    )
    report: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{") :])
    return report


def test_the_spec_lints_clean_under_redocly_recommended_strict() -> None:
    report = lint_problems(SPEC_PATH)
    problems = [f"{p['ruleId']}: {p['message']}" for p in report["problems"]]
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}, problems


@pytest.mark.parametrize(
    ("method", "path", "operation"), operations(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_operation_is_fully_documented(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    assert operation["operationId"][0].islower()
    assert len(operation["tags"]) == 1
    assert operation["summary"] and operation["description"]
    # Public or not, every operation says so (security: [] for public ones).
    assert "security" in operation
    # Every request may carry a body over the limit: the middleware answers 413 first.
    assert "413" in operation["responses"]
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


T = TypeVar("T")


def _subclasses(cls: type[T]) -> set[type[T]]:
    found: set[type[T]] = set(cls.__subclasses__())
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
