"""JSON responses serialised straight from the wire models."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.responses import Response

# RFC 6749 section 5.1: responses that carry tokens must not be stored by any cache.
# Answers that carry personal data (the user of /me, the account of /signup) likewise: a shared
# cache must not hand one user's answer to another.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The same, encoded once, for /me: appending them costs less than Starlette encoding a dict.
NO_STORE_RAW = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]


def model_response(
    model: BaseModel,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    *,
    exclude_none: bool = False,
) -> Response:
    return Response(
        content=model.model_dump_json(exclude_none=exclude_none),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )
