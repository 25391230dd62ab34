"""GoTrue's three error envelopes (reference §2) and the gateway's own errors (reference §1)."""

from __future__ import annotations

import datetime as dt
import uuid

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

API_VERSION_HEADER = "X-Supabase-Api-Version"
# Reference §2: the only named version; any later date is answered as this one.
API_VERSION_2024 = dt.date(2024, 1, 1)

# Reference §2: the text GoTrue uses for unhandled errors.
UNEXPECTED_FAILURE_MSG = "Unexpected failure, please check server logs for more information"


class ApiError(Exception):
    """GoTrue's HTTPError: a status, an optional error code and a human message."""

    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class WeakPasswordError(ApiError):
    """GoTrue's WeakPasswordError: 422 `weak_password` whose body adds
    `weak_password: {reasons}` (reference §2)."""

    def __init__(self, message: str, reasons: list[str]) -> None:
        super().__init__(422, "weak_password", message)
        self.reasons = reasons


class OAuthError(Exception):
    """GoTrue's OAuthError: always 400 `{error, error_description}` (reference §2, item 3)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class Panic(ApiError):
    """A Go panic caught by GoTrue's recoverer: 500 "Internal Server Error" with no code of its
    own, so the code is filled in as `unexpected_failure` (reference §2, "Panics")."""

    def __init__(self) -> None:
        super().__init__(500, None, "Internal Server Error")


def _uses_2024_shape(headers: Headers) -> bool:
    """Reference §2: a YYYY-MM-DD date of 2024-01-01 or later selects the new shape; no header,
    an earlier date or an unparseable value selects the legacy one."""
    raw = headers.get(API_VERSION_HEADER)
    if raw is None:
        return False
    try:
        version = dt.datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        return False
    return version >= API_VERSION_2024


def render_error(exc: Exception, request_headers: Headers) -> JSONResponse:
    """Serialise an error the way GoTrue's HandleResponseError does (reference §2)."""
    new_shape = _uses_2024_shape(request_headers)
    # Reference §2: the version is echoed on error responses only, and only for the new shape.
    headers = {API_VERSION_HEADER: API_VERSION_2024.isoformat()} if new_shape else {}

    if isinstance(exc, OAuthError):
        # Reference §2: OAuth-shaped errors ignore the version header for the body.
        return JSONResponse(
            {"error": exc.error, "error_description": exc.description}, 400, headers
        )

    if isinstance(exc, WeakPasswordError):
        # Reference §2: the body adds `weak_password: {reasons}`; in the new shape the
        # `x-sb-error-code` header is not set.
        payload = {"reasons": exc.reasons}
        if new_shape:
            new_body = {"code": "weak_password", "message": exc.message, "weak_password": payload}
            return JSONResponse(new_body, 422, headers)
        headers["x-sb-error-code"] = "weak_password"
        legacy_body = {"code": 422, "error_code": "weak_password", "msg": exc.message}
        return JSONResponse({**legacy_body, "weak_password": payload}, 422, headers)

    if isinstance(exc, ApiError):
        status, code, message = exc.status, exc.code, exc.message
        if code is not None:
            # Reference §2: `x-sb-error-code` carries the error's own code. A panic has none.
            headers["x-sb-error-code"] = code
        filled = code or ("unexpected_failure" if status == 500 else "unknown")
        error_id: str | None = str(uuid.uuid4()) if status >= 500 else None
    else:
        # Reference §2: an unhandled error, not an HTTPError: no header code, no error_id.
        status, filled, message, error_id = 500, "unexpected_failure", UNEXPECTED_FAILURE_MSG, None

    if new_shape:
        return JSONResponse({"code": filled, "message": message}, status, headers)
    body: dict[str, object] = {"code": status, "error_code": filled, "msg": message}
    if error_id is not None:
        # Reference §2: 5xx legacy errors carry `error_id` (the request id).
        body["error_id"] = error_id
    return JSONResponse(body, status, headers)


# Reference §1: the gateway's key-auth answers, in the hosted wording the brief asks for.
def gateway_no_api_key() -> JSONResponse:
    return JSONResponse({"message": "No API key found in request"}, 401)


def gateway_invalid_api_key() -> JSONResponse:
    return JSONResponse(
        {
            "message": "Invalid API key",
            "hint": "Double check your Supabase `anon` or `service_role` API key.",
        },
        401,
    )
