"""Operations are served by calling `handler(request)` directly; anything else is FastAPI's."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse, Response
from starlette.routing import Router

from auth_backend.api.routing import OperationRoute, hot_paths_first
from auth_backend.errors import InvalidToken
from auth_backend.main import create_app
from tests.support.problems import problem_code
from tests.support.services import make_settings


async def takes_request(request: Request) -> Response:
    return JSONResponse({"path": request.url.path})


async def takes_nothing() -> Response:
    return JSONResponse({"ok": True})


async def takes_a_query_parameter(name: str) -> Response:
    return JSONResponse({"name": name})


def dependency() -> str:
    return "injected"


async def takes_a_dependency(value: str = Depends(dependency)) -> Response:
    return JSONResponse({"value": value})


async def returns_a_dict(request: Request) -> dict[str, Any]:
    return {"path": request.url.path}


def app_with(*routes: tuple[str, Any]) -> FastAPI:
    app = FastAPI()
    app.router.route_class = OperationRoute
    for path, endpoint in routes:
        app.add_api_route(path, endpoint, methods=["GET"])
    return app


def served_directly(app: FastAPI, path: str) -> bool:
    route = next(r for r in app.routes if getattr(r, "path", None) == path)
    assert isinstance(route, APIRoute)
    return "_serve" in getattr(route.app, "__qualname__", "")


async def get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


async def test_request_handlers_and_bare_handlers_are_called_directly() -> None:
    app = app_with(("/request", takes_request), ("/nothing", takes_nothing))
    assert served_directly(app, "/request") and served_directly(app, "/nothing")
    assert (await get(app, "/request")).json() == {"path": "/request"}
    assert (await get(app, "/nothing")).json() == {"ok": True}


async def test_handlers_that_need_fastapi_keep_it() -> None:
    app = app_with(
        ("/query", takes_a_query_parameter),
        ("/dependency", takes_a_dependency),
        ("/dict", returns_a_dict),
    )
    assert not any(served_directly(app, p) for p in ("/query", "/dependency", "/dict"))
    assert (await get(app, "/query?name=ada")).json() == {"name": "ada"}
    assert (await get(app, "/query")).status_code == 422
    assert (await get(app, "/dependency")).json() == {"value": "injected"}
    assert (await get(app, "/dict")).json() == {"path": "/dict"}


async def test_every_operation_of_the_service_is_served_directly() -> None:
    app = create_app(make_settings(database_url="sqlite:///:memory:"))
    operations = [r for r in app.routes if isinstance(r, APIRoute)]
    assert operations
    assert all(isinstance(r, OperationRoute) and served_directly(app, r.path) for r in operations)


async def test_errors_raised_by_a_direct_handler_reach_the_problem_handlers() -> None:
    async def refuses(_request: Request) -> Response:
        raise InvalidToken()

    app = create_app(make_settings(database_url="sqlite:///:memory:"))
    app.add_api_route("/refuses", refuses, methods=["GET"])
    response = await get(app, "/refuses")
    assert problem_code(response) == (401, "invalid_token")
    assert response.headers["x-request-id"] == response.json()["request_id"]


def test_hot_paths_come_first_and_nothing_else_changes() -> None:
    app = create_app(make_settings(database_url="sqlite:///:memory:"))
    paths = [getattr(route, "path", None) for route in app.routes]
    assert paths[:2] == ["/me", "/health"]
    reference = Router(routes=list(app.routes))
    hot_paths_first(reference, ("/nothing-here",))
    assert [getattr(route, "path", None) for route in reference.routes] == paths
