"""The operational endpoints, /metrics and the documentation pages, served only to the
networks in OPERATIONS_ALLOWED_NETWORKS; everyone else gets a 403 `forbidden` problem.

Only those handlers are wrapped, so `/me` and `/health` pay nothing for the check. The client
is the one `client_ip` names: the TCP peer, or the address a trusted proxy forwards
(TRUSTED_PROXIES). Every worker process applies the same settings on the one listener, so the
check holds for any WEB_CONCURRENCY.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from auth_backend.api.client_ip import Network, client_ip
from auth_backend.api.problems import problem_response
from auth_backend.errors import Forbidden
from auth_backend.settings import Settings

Handler = Callable[[Request], Awaitable[Response]]


def is_allowed(address: str | None, allowed: Sequence[Network]) -> bool:
    if address is None:
        return False  # no peer address (a Unix socket): nothing vouches for the client
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        # A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
        ip = ip.ipv4_mapped
    return any(ip in network for network in allowed)


def is_operator(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return is_allowed(
        client_ip(request, settings.trusted_proxies), settings.operations_allowed_networks
    )


def operators_only(handler: Handler) -> Handler:
    """`handler`, answering 403 `forbidden` to clients outside the allowed networks.

    Annotated like the handler, so that the route still calls it directly (api/routing.py)."""

    async def restricted(request: Request) -> Response:
        if not is_operator(request):
            raise Forbidden()
        return await handler(request)

    restricted.__name__ = handler.__name__
    restricted.__qualname__ = handler.__qualname__
    return restricted


class OperatorsOnly:
    """The same check for an ASGI app (the docs' static files, FastAPI's /openapi.json)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_operator(Request(scope)):
            request_id = str(scope.get("state", {}).get("request_id", ""))
            await problem_response(Forbidden(), request_id)(scope, receive, send)
            return
        await self.app(scope, receive, send)
