"""Outermost ASGI layer: records what callers sent, then applies the active fault."""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .state import DoubleState

CONTROL_PREFIX = "/__double"


async def _drop_connection(send: Send) -> None:
    """Close the TCP connection without a byte of response.

    ASGI has no "abort" message, and raising before the response makes uvicorn answer 500.
    uvicorn hands the app its per-request cycle's bound `send`, whose object owns the
    connection's transport: closing that transport gives the client a clean disconnect
    ("Server disconnected without sending a response"). This layer must stay outermost so
    `send` is not wrapped."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    close = getattr(transport, "close", None)  # asyncio's or uvloop's transport
    if not callable(close):
        raise TypeError("the drop fault needs uvicorn's HTTP/1.1 protocol (h11)")
    close()
    # Let uvicorn's connection_lost run so it marks the cycle disconnected and sends nothing.
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def _buffer_request(receive: Receive) -> Receive:
    """Read the whole request body now and replay it later. A delayed request has fully
    arrived, so the server goes on processing it even if the client gives up meanwhile
    (e.g. a user is still created after the caller's timeout), as a slow real server would."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay


def _with_gateway_cookie(send: Send, value: str) -> Send:
    header = (b"set-cookie", f"__cf_bm={value}; path=/; HttpOnly; SameSite=None".encode())

    async def send_with_cookie(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), header]
        await send(message)

    return send_with_cookie


class DoubleMiddleware:
    def __init__(self, app: ASGIApp, state: DoubleState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        self.state.stats.record(scope)
        cookie = self.state.settings.gateway_cookie
        if cookie is not None:
            send = _with_gateway_cookie(send, cookie)
        fault = self.state.faults.take(scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
        elif fault.kind == "delay":
            receive = await _buffer_request(receive)
            await asyncio.sleep(fault.seconds)
            await self.app(scope, receive, send)
        elif fault.kind == "drop":
            await _drop_connection(send)
        else:
            await fault.response(Headers(scope=scope))(scope, receive, send)
