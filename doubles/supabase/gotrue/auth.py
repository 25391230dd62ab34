"""GoTrue's bearer-token middlewares for admin and user endpoints (reference §3.1, §3.4)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from ..errors import ApiError
from ..keys import JWTInvalid
from ..state import DoubleState
from ..store import Session, User, utcnow

# GoTrue's bearerRegexp.
_BEARER = re.compile(r"^(?:B|b)earer (\S+$)")
_NIL_UUID = "00000000-0000-0000-0000-000000000000"


def _verified_claims(request: Request, state: DoubleState) -> dict[str, Any]:
    match = _BEARER.match(request.headers.get("authorization", ""))
    if match is None:
        # Reference §3.1 / §3.4: 401 `no_authorization`.
        raise ApiError(401, "no_authorization", "This endpoint requires a valid Bearer token")
    try:
        return state.keys.verify(match.group(1))
    except JWTInvalid as exc:
        # Reference §3.1: 403 `bad_jwt` "invalid JWT: unable to parse or verify signature, …".
        raise ApiError(
            403, "bad_jwt", f"invalid JWT: unable to parse or verify signature, {exc}"
        ) from exc


def _session_of(claims: dict[str, Any], state: DoubleState) -> Session | None:
    """A real `session_id` claim must name a live session (reference §3.1, §3.4)."""
    session_id = claims.get("session_id")
    if not session_id or session_id == _NIL_UUID:
        return None
    try:
        uuid.UUID(str(session_id))
    except ValueError as exc:
        raise ApiError(403, "bad_jwt", "invalid claim: session_id claim must be a UUID") from exc
    session = state.store.sessions.get(str(session_id))
    if session is None:
        raise ApiError(
            403, "session_not_found", "Session from session_id claim in JWT does not exist"
        )
    return session


def require_admin(request: Request, state: DoubleState) -> dict[str, Any]:
    """Reference §3.1 "Who counts as admin": only the `role` claim is checked (no `sub`
    needed), then a real `session_id` must still exist. Call with the store lock held."""
    claims = _verified_claims(request, state)
    if claims.get("role") not in state.settings.admin_roles:
        raise ApiError(403, "not_admin", "User not allowed")
    _session_of(claims, state)
    return claims


@dataclass
class Caller:
    user: User
    session: Session | None
    claims: dict[str, Any]


def require_user(request: Request, state: DoubleState) -> Caller:
    """Reference §3.4, the middleware table (applies to every user-token endpoint). Call with
    the store lock held."""
    claims = _verified_claims(request, state)
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise ApiError(403, "bad_jwt", "invalid claim: missing sub claim")
    try:
        uuid.UUID(sub)
    except ValueError as exc:
        # Reference §3.4: this one is a 400.
        raise ApiError(400, "bad_jwt", "invalid claim: sub claim must be a UUID") from exc
    user = state.store.users.get(sub)
    if user is None:
        raise ApiError(403, "user_not_found", "User from sub claim in JWT does not exist")
    session = _session_of(claims, state)
    if user.is_banned(utcnow()):
        # Reference §3.4 lists 403 `user_banned` without a message; §3.2's wording is reused.
        raise ApiError(403, "user_banned", "User is banned")
    return Caller(user, session, claims)
