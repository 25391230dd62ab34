"""The operational endpoints, /metrics and the documentation pages, served only to the
networks in OPERATIONS_ALLOWED_NETWORKS; everyone else gets a 403 problem.

The check wraps those routes alone, so `/me` and `/health` pay nothing for it. The client is
the one `client_ip` names: the TCP peer, or the address a trusted proxy forwards
(TRUSTED_PROXIES). Every worker process applies the same settings to the one listener, so the
check holds for any WEB_CONCURRENCY.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from auth_backend.api import docs_routes
from auth_backend.api.client_ip import Network, client_ip
from auth_backend.api.problems import problem_response
from auth_backend.errors import Forbidden

METRICS_URL = "/metrics"
OPERATIONAL_PATHS = frozenset(
    {
        METRICS_URL,
        docs_routes.OPENAPI_URL,
        docs_routes.DOCS_URL,
        docs_routes.OAUTH2_REDIRECT_URL,
        docs_routes.REDOC_URL,
        docs_routes.STATIC_URL,
    }
)


def is_allowed(address: str | None, allowed: Sequence[Network]) -> bool:
    if address is None:
        return False  # no peer address (a Unix socket): nothing to vouch for it
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        # A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
        ip = ip.ipv4_mapped
    return any(ip in network for network in allowed)


class OperatorsOnly:
    """ASGI wrapper of one route's app: 403 for clients outside the allowed networks."""

    def __init__(
        self, app: ASGIApp, allowed: Sequence[Network], trusted_proxies: Sequence[Network]
    ) -> None:
        self.app = app
        self.allowed = tuple(allowed)
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_allowed(
            client_ip(Request(scope), self.trusted_proxies), self.allowed
        ):
            request_id = str(scope.get("state", {}).get("request_id", ""))
            await problem_response(Forbidden(), request_id)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def restrict_operational_routes(
    routes: Sequence[BaseRoute], allowed: Sequence[Network], trusted_proxies: Sequence[Network]
) -> None:
    """Wrap the app of every operational route (Route or Mount alike) in `OperatorsOnly`."""
    found = set()
    for route in routes:
        path = getattr(route, "path", None)
        if path in OPERATIONAL_PATHS:
            route.app = OperatorsOnly(route.app, allowed, trusted_proxies)  # type: ignore[attr-defined]
            found.add(path)
    missing = OPERATIONAL_PATHS - found
    if missing:
        # A renamed route would otherwise be public without anyone noticing.
        raise RuntimeError(f"operational routes not found: {sorted(missing)}")
