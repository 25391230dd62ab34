"""`GET /user` and `POST /logout` (reference §3.4, §3.5)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import ApiError
from ..state import DoubleState
from .auth import require_user

_LOGOUT_SCOPES = ("global", "local", "others")


async def get_user(request: Request, state: DoubleState) -> Response:
    async with state.store.lock:
        caller = require_user(request, state)
    audience = request.headers.get("x-jwt-aud")
    if audience and audience != caller.claims.get("aud"):
        # Reference §3.5: audience check against X-JWT-AUD.
        raise ApiError(400, "validation_failed", "Token audience doesn't match request audience")
    return JSONResponse(caller.user.to_json(from_database=True))


async def logout(request: Request, state: DoubleState) -> Response:
    store = state.store
    async with store.lock:
        caller = require_user(request, state)
        # Reference §3.4: default scope is global.
        scope = request.query_params.get("scope", "global")
        if scope not in _LOGOUT_SCOPES:
            raise ApiError(400, "validation_failed", f'Unsupported logout scope "{scope}"')
        current = caller.session.id if caller.session else None
        if scope == "global":
            store.logout(caller.user.id, keep=None)
        elif scope == "others":
            store.logout(caller.user.id, keep=current)
        elif current is not None:
            store.delete_session(current)
    # Reference §3.4: 204 No Content, empty body.
    return Response(status_code=204)
