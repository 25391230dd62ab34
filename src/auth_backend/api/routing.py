"""The route class of the operations: `handler(request) -> Response`, called directly.

Every handler here takes the Starlette request (or nothing), parses its own body against the
contract's models and renders its own response (see bodies.py and responses.py), so FastAPI's
per-request machinery (dependency solving, two AsyncExitStacks, response-model handling) has
nothing to do for them, yet costs a measurable share of `/me`, which sits on the request path
of every other service (bench/RESULTS.md). This class keeps everything else of APIRoute: path
matching, methods, `operation_id`, `scope["route"]`; exceptions reach the app's exception
middleware and its problem handlers exactly as before.

A handler of any other shape (parameters FastAPI must inject, dependencies, a return value
other than a Response) is left to FastAPI, so nothing can silently lose a feature.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, get_type_hints

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Router
from starlette.types import ASGIApp, Receive, Scope, Send


class OperationRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        direct = _direct_app(endpoint, self)
        if direct is not None:
            self.app = direct


def hot_paths_first(router: Router, paths: tuple[str, ...]) -> None:
    """Move the routes of `paths` to the front of the router's list.

    The router tries its routes in order, a regular-expression match each, and the framework
    registers its documentation routes first: `/health` and `/me` were tried tenth or so.
    Static paths that no other route can match give the same answer in any position, so
    only the time to find them changes."""
    router.routes.sort(key=lambda route: getattr(route, "path", None) not in paths)


def _direct_app(endpoint: Callable[..., Any], route: APIRoute) -> ASGIApp | None:
    if not inspect.iscoroutinefunction(endpoint) or route.dependant.dependencies:
        return None
    try:
        returns = get_type_hints(endpoint).get("return")
    except (NameError, TypeError):
        return None
    if not (isinstance(returns, type) and issubclass(returns, Response)):
        return None
    parameters = list(inspect.signature(endpoint).parameters)
    if not parameters:
        return _serve(lambda _request: endpoint())
    if parameters == [route.dependant.request_param_name]:
        return _serve(endpoint)
    return None


def _serve(handler: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await handler(Request(scope, receive, send))
        await response(scope, receive, send)

    return app
