"""Request bodies as GoTrue reads them: a 1 MiB cap and Go's json.Unmarshal (reference §1, §3)."""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

from starlette.requests import Request

from ..errors import ApiError

# Reference §1: "Request-body limit: 1 MiB for every route".
MAX_BODY_BYTES = 1 << 20
# Reference §3.1: `X-JWT-AUD` selects the audience; Supabase's default is `authenticated`.
DEFAULT_AUD = "authenticated"


class GoType(Enum):
    STRING = "string"
    BOOL = "bool"
    OBJECT = "map[string]interface {}"


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _fits(value: Any, expected: GoType) -> bool:
    kind = _json_kind(value)
    return {GoType.STRING: "string", GoType.BOOL: "bool", GoType.OBJECT: "object"}[expected] == kind


def _bad_json(detail: str) -> ApiError:
    # The prefix is GoTrue's; the detail after it mimics Go's encoding/json.
    return ApiError(400, "bad_json", f"Could not parse request body as JSON: {detail}")


async def read_params(request: Request, struct: str, fields: dict[str, GoType]) -> dict[str, Any]:
    """Decode the body into the named fields. Like Go: unknown keys are ignored, key matching
    is case-insensitive, `null` leaves a field unset, and a type mismatch is an error."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        # Reference §1 / §5: 413 `request_entity_too_large`.
        raise ApiError(
            413,
            "request_entity_too_large",
            f"Request body too large (max {MAX_BODY_BYTES} bytes)",
        )
    if not body.strip():
        raise _bad_json("unexpected end of JSON input")
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise _bad_json(str(exc)) from exc
    if value is None:
        return {}
    if not isinstance(value, dict):
        kind = _json_kind(value)
        raise _bad_json(f"json: cannot unmarshal {kind} into Go value of type api.{struct}")
    params: dict[str, Any] = {}
    for key, item in value.items():
        name = key if key in fields else next((f for f in fields if f.lower() == key.lower()), None)
        if name is None or item is None:
            continue
        expected = fields[name]
        if not _fits(item, expected):
            raise _bad_json(
                f"json: cannot unmarshal {_json_kind(item)} into Go struct field "
                f"{struct}.{key} of type {expected.value}"
            )
        params[name] = item
    return params


def request_aud(request: Request) -> str:
    return request.headers.get("x-jwt-aud") or DEFAULT_AUD
