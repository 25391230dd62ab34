"""Switchable faults that model the network and proxies in front of Supabase Auth."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, JSONResponse, Response

from .errors import UNEXPECTED_FAILURE_MSG, ApiError, render_error

FaultKind = Literal["delay", "status", "drop", "html"]
AUTH_PREFIX = "/auth/v1"

# Not in the reference: Kong's own texts for an unusable upstream (502) or no healthy upstream
# (503). They only need to be "not GoTrue-shaped", which is what a wrapper must cope with.
_GATEWAY_BODIES = {
    502: {"message": "An invalid response was received from the upstream server"},
    503: {"message": "failure to get a peer from the ring-balancer"},
}
_HTML_PAGE = (
    "<html>\r\n<head><title>{code} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {phrase}</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def gotrue_path(path: str) -> str:
    """`/auth/v1/token` and `/token` name the same endpoint (the gateway strips the prefix)."""
    if path.startswith(AUTH_PREFIX + "/"):
        return path[len(AUTH_PREFIX) :]
    return path


@dataclass
class Fault:
    kind: FaultKind
    seconds: float = 0.0
    status: int | None = None
    paths: list[str] | None = None
    remaining: int | None = None  # None = until cleared
    body: Any = None  # optional override of the answer body for "status"/"html"
    content_type: str | None = None

    def matches(self, path: str) -> bool:
        if self.paths is None:
            return True
        return gotrue_path(path) in {gotrue_path(p) for p in self.paths}

    def response(self, request_headers: Headers) -> Response:
        """The answer for "status" and "html" faults."""
        if self.kind == "html":
            status = self.status or 502
            phrase = HTTPStatus(status).phrase
            page = self.body if isinstance(self.body, str) else None
            return HTMLResponse(page or _HTML_PAGE.format(code=status, phrase=phrase), status)
        status = self.status or 500
        if self.body is not None:
            if isinstance(self.body, str):
                return Response(self.body, status, media_type=self.content_type or "text/plain")
            return JSONResponse(self.body, status, media_type=self.content_type)
        if status in _GATEWAY_BODIES:
            return JSONResponse(_GATEWAY_BODIES[status], status)
        return render_error(_gotrue_error(status), request_headers)


def _gotrue_error(status: int) -> ApiError:
    if status == 429:
        # Reference §3.2, row 1.
        return ApiError(429, "over_request_rate_limit", "Request rate limit reached")
    if status == 504:
        # Reference §1, "Timeouts".
        message = "Processing this request timed out, please retry after a moment."
        return ApiError(504, "request_timeout", message)
    if status == 500:
        # Reference §2 / §5: any 500 is `unexpected_failure`.
        return ApiError(500, "unexpected_failure", UNEXPECTED_FAILURE_MSG)
    # Reference §2: an error without a code is filled in as `unknown`.
    return ApiError(status, None, HTTPStatus(status).phrase)


class FaultSlot:
    """One active fault at a time; setting a new one replaces it."""

    def __init__(self) -> None:
        self.fault: Fault | None = None

    def take(self, path: str) -> Fault | None:
        fault = self.fault
        if fault is None or not fault.matches(path):
            return None
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                self.fault = None
        return fault
