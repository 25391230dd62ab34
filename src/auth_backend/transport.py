"""The HTTP/1.1 protocol the server runs: uvicorn's httptools protocol with the limits it lacks.

uvicorn bounds neither the size nor the number of request headers when it parses with
httptools, and it sets no deadline for receiving a request: a connection that never finishes
its headers, or its body, is kept forever (docs/adr/0014-transport-limits-in-the-protocol.md).
This subclass adds four bounds, read once per process from the settings:

- the request line and headers together may take MAX_REQUEST_HEADER_BYTES: 431, then close;
- at most MAX_REQUEST_HEADERS header fields: 431, then close;
- the request line and headers must arrive within REQUEST_HEADERS_TIMEOUT seconds of the
  connection opening (or of its first byte, on a kept-alive connection): 408, then close, or
  a bare close when not one byte of a request came;
- the body must arrive within REQUEST_BODY_TIMEOUT seconds of the headers: 408 if no answer
  has started, then close; the application reading the body sees the client disconnect.

A request without a body arms no body deadline, so `/me` and `/health` pay for two counters
and, on a kept-alive connection, one timer per request (uvicorn arms its keep-alive timer per
request already).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from auth_backend.settings import Settings

# What uvicorn.run(http=...) imports in every worker process.
PROTOCOL = f"{__name__}:BoundedHttpToolsProtocol"

logger = logging.getLogger("auth_backend.transport")


@dataclass(frozen=True, slots=True)
class TransportLimits:
    max_header_bytes: int
    max_headers: int
    headers_timeout: float
    body_timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> TransportLimits:
        return cls(
            max_header_bytes=settings.max_request_header_bytes,
            max_headers=settings.max_request_headers,
            headers_timeout=settings.request_headers_timeout,
            body_timeout=settings.request_body_timeout,
        )


@cache
def transport_limits() -> TransportLimits:
    # uvicorn builds the protocol in each worker from an import string, with no way to hand it
    # our settings; each process reads them once, from the same environment the app reads.
    return TransportLimits.from_settings(Settings())


class _HeadTooLarge(Exception):
    """Raised from a parser callback: httptools stops parsing and re-raises it (wrapped)."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = transport_limits()
        self._max_header_bytes = limits.max_header_bytes
        self._max_headers = limits.max_headers
        self._headers_timeout = limits.headers_timeout
        self._body_timeout = limits.body_timeout
        # Between the end of one message and the end of the next one's headers.
        self._reading_head = True
        # Bytes received while reading the head, counted before parsing: httptools buffers a
        # header's name and value until both are complete, so a callback would see a huge
        # header only once it had been received whole.
        self._head_bytes = 0
        # Headers complete, body not yet: the body deadline is armed after the parse.
        self._body_pending = False
        self._deadline: asyncio.TimerHandle | None = None

    # --- connection --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Also bounds a connection that never sends a byte: uvicorn arms its keep-alive
        # timer only after a first answer.
        self._arm(self._headers_timeout, self._headers_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's data_received, with the head bounded and its 431 told apart from a 400.
        self._unset_keepalive_if_required()
        if self._reading_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            if isinstance(error.__context__, _HeadTooLarge):
                self._refuse_head(str(error.__context__))
            else:
                self._bad_request()
            return
        except httptools.HttpParserError:
            self._bad_request()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        # A request that arrives in one piece (nearly all of them) arms no timer here.
        if self._reading_head:
            if self._head_bytes > self._max_header_bytes:
                self._refuse_head(f"more than {self._max_header_bytes} bytes of headers")
            elif self._deadline is None and self._head_bytes:
                # The first bytes of the next request on a kept-alive connection.
                self._arm(self._headers_timeout, self._headers_timed_out)
        elif self._body_pending and self._deadline is None:
            self._arm(self._body_timeout, self._body_timed_out)

    # --- parser callbacks --------------------------------------------------------------

    def on_headers_complete(self) -> None:
        # Checked once the head is parsed, not per header: the raw count above already
        # bounds what the parser holds, and a per-header callback costs every request.
        if len(self.headers) > self._max_headers:
            raise _HeadTooLarge(f"more than {self._max_headers} header fields")
        # The raw count includes whatever followed the head in the same read (a body);
        # only when it is over the limit is the head itself measured.
        if self._head_bytes > self._max_header_bytes and self._head_size() > self._max_header_bytes:
            raise _HeadTooLarge(f"more than {self._max_header_bytes} bytes of headers")
        self._disarm()
        self._reading_head = False
        self._head_bytes = 0
        self._body_pending = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._body_pending:
            self._body_pending = False
            self._disarm()
        self._reading_head = True
        super().on_message_complete()

    def _head_size(self) -> int:
        # The request line's target and every field with its ": " and CRLF.
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    # --- deadlines and refusals --------------------------------------------------------

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._head_bytes == 0:
            # Not one byte of a request: nothing to answer, as after the keep-alive timeout.
            self.transport.close()
            return
        self._timed_out(f"headers not received within {self._headers_timeout:g} s")

    def _body_timed_out(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self._timed_out(f"body not received within {self._body_timeout:g} s")

    def _timed_out(self, reason: str) -> None:
        logger.warning("closing the connection of %s: %s", self._peer(), reason)
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self._send_and_close(408, b"Request Timeout", b"Request timeout.")
        else:
            self.transport.close()

    def _refuse_head(self, reason: str) -> None:
        logger.warning("refusing a request of %s: %s", self._peer(), reason)
        self._send_and_close(
            431, b"Request Header Fields Too Large", b"Request header fields too large."
        )

    def _bad_request(self) -> None:
        message = "Invalid HTTP request received."
        self.logger.warning(message)
        self.send_400_response(message)

    def _send_and_close(self, status: int, phrase: bytes, body: bytes) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # The application reading the body sees the client gone (ClientDisconnect), and
            # whatever it still sends is dropped rather than written after our answer.
            cycle.disconnected = True
            cycle.message_event.set()
        content = [b"HTTP/1.1 %d %s\r\n" % (status, phrase)]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.append(
            b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (len(body), body)
        )
        self.transport.write(b"".join(content))
        self.transport.close()
        self._reading_head = False

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "an unknown client"
