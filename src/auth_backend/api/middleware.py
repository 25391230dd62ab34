"""Pure ASGI middleware: request ids, access logs and metrics, and the body size limit.

Pure ASGI rather than BaseHTTPMiddleware: it adds no task or stream per request, which
keeps the hot path (`/me`, `/health`) close to bare Starlette.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auth_backend.api.problems import PROBLEM_MEDIA_TYPE, problem_body, problem_response
from auth_backend.errors import InternalError, PayloadTooLarge
from auth_backend.observability import metrics
from auth_backend.observability.logging import log_access
from auth_backend.observability.request_id import current_request_id

REQUEST_ID_HEADER = b"x-request-id"
MAX_BODY_BYTES = 1024 * 1024
# A caller's id is kept only if it is short and plain, so it is safe to log and echo.
_ACCEPTABLE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_ALWAYS = [(b"x-content-type-options", b"nosniff")]
# Request ids correlate log lines; they grant nothing, so they need to be unique, not secret.
# uuid4() costs a getrandom() system call and a UUID object per request (a visible share of
# /health and /me under load); 128 bits from a per-process generator seeded from the OS look
# the same (32 hex digits) and collide just as rarely.
_ids = random.Random()  # noqa: S311 (not a secret: see above)


class RequestContextMiddleware:
    """Gives each request an id (the caller's X-Request-ID or a new one) and common headers,
    then writes its access log line and records its metrics.

    The id is also put in a context variable, so that every log line written while the
    request is served carries it.
    """

    def __init__(self, app: ASGIApp, routes: Iterable[str] = ()) -> None:
        self.app = app
        # Paths without parameters, to label requests the router never saw (a 413 decided
        # here, for instance) by their route rather than as unmatched.
        self.static_routes = frozenset(route for route in routes if "{" not in route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        context_token = current_request_id.set(request_id)
        extra_headers = [*_ALWAYS, (REQUEST_ID_HEADER, request_id.encode())]
        # What the server answers if the app fails before starting a response.
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", []), *extra_headers]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not response_started:
                # Our own bug: answer its 500 here, inside Starlette's outermost error
                # middleware, so that it carries the request id header like every other
                # answer. That middleware still logs the exception and sends nothing more.
                await problem_response(InternalError(), request_id)(
                    scope, receive, send_with_headers
                )
            raise
        finally:
            self._observe(scope, request_id, status, time.perf_counter() - started)
            current_request_id.reset(context_token)

    def _observe(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        route = getattr(scope.get("route"), "path", None)
        if not isinstance(route, str):
            route = path if path in self.static_routes else metrics.UNMATCHED_ROUTE
        metrics.record_request(method, route, status, seconds)
        client = scope.get("client")
        log_access(
            request_id=request_id,
            method=method,
            route=route,
            path=path,
            status=status,
            seconds=seconds,
            client=client[0] if client else None,
        )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _ACCEPTABLE_REQUEST_ID.match(value):
            return str(value.decode())
    return f"{_ids.getrandbits(128):032x}"


class BodySizeLimitMiddleware:
    """413 for bodies over the limit, decided on Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        has_body = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_bytes:
                    await self._reject(scope, send)
                    return
                has_body = has_body or not value.isdigit() or int(value) > 0
            elif name == b"transfer-encoding":
                has_body = True
        if not has_body:
            # HTTP/1.1: no Content-Length and no Transfer-Encoding means no body. Most GETs
            # (/health, /me, /metrics) skip the wrappers below.
            await self.app(scope, receive, send)
            return

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLargeError()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLargeError:
            if response_started:
                raise
            await self._reject(scope, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        request_id = str(scope.get("state", {}).get("request_id", ""))
        body = problem_body(
            PayloadTooLarge(f"The request body must not exceed {self.max_bytes} bytes."), request_id
        )
        await send(
            {
                "type": "http.response.start",
                "status": PayloadTooLarge.status,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    # The rest of the body is not read, so the connection cannot be reused.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _BodyTooLargeError(Exception):
    pass
