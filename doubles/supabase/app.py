"""The app factory: control API, gateway + GoTrue under /auth/v1, gateway 404 elsewhere."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .config import DoubleConfig
from .control import control_routes
from .gateway import authorize_request
from .gotrue.router import dispatch
from .middleware import DoubleMiddleware
from .state import DoubleState

_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(config: DoubleConfig) -> DoubleMiddleware:
    """Build one double. The returned ASGI app wraps a Starlette app; `.state` exposes the
    in-memory state to in-process users."""
    state = DoubleState(config)

    async def auth_service(request: Request) -> Response:
        # Reference §1: the gateway strips `/auth/v1`, GoTrue serves the rest.
        path = "/" + request.path_params["path"]
        outcome = authorize_request(config, path, request.headers)
        if isinstance(outcome, Response):
            return outcome
        headers = [(k, v) for k, v in request.scope["headers"] if k != b"authorization"]
        if outcome is not None:
            headers.append((b"authorization", outcome.encode("latin-1")))
        upstream = Request({**request.scope, "headers": headers}, request.receive)
        return await dispatch(upstream, path, state)

    async def no_route(request: Request) -> Response:
        # Not in the reference: Kong's answer for a path no service is routed on.
        return JSONResponse({"message": "no Route matched with those values"}, 404)

    routes = [
        *control_routes(state),
        Route("/auth/v1/{path:path}", auth_service, methods=_ALL_METHODS),
        Route("/{path:path}", no_route, methods=_ALL_METHODS),
    ]
    return DoubleMiddleware(Starlette(routes=routes), state)
