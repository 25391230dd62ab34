"""`POST /token`: the password and refresh_token grants (reference §3.2, §3.3, §4, §6)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import ApiError, OAuthError
from ..state import DoubleState
from ..store import RefreshToken, Session, User, utcnow
from .limits import check_rate_limit
from .params import GoType, read_params, request_aud
from .passwords import verify_password, weak_password_warning
from .validation import format_phone


def _invalid_credentials() -> ApiError:
    # Reference §3.2: 400, never 401, for an unknown user and for a wrong password alike.
    return ApiError(400, "invalid_credentials", "Invalid login credentials")


async def token(request: Request, state: DoubleState) -> Response:
    # Reference §6: one bucket for all of /token.
    check_rate_limit(request, state.limiter)
    # Reference §3.2: grant_type is read from the query string.
    grant_type = request.query_params.get("grant_type", "")
    if grant_type == "password":
        return await _password_grant(request, state)
    if grant_type == "refresh_token":
        return await _refresh_token_grant(request, state)
    # Reference §3.2: anything else (id_token, pkce and web3 are not modelled) is this 400.
    raise ApiError(400, "invalid_credentials", "unsupported_grant_type")


async def _password_grant(request: Request, state: DoubleState) -> Response:
    params = await read_params(
        request,
        "PasswordGrantParams",
        {
            "email": GoType.STRING,
            "phone": GoType.STRING,
            "password": GoType.STRING,
            "gotrue_meta_security": GoType.OBJECT,
        },
    )
    email, phone = params.get("email", ""), params.get("phone", "")
    password = params.get("password", "")
    # Reference §3.2 error table, checked in its order.
    if email and phone:
        raise ApiError(
            400,
            "validation_failed",
            "Only an email address or phone number should be provided on login.",
        )
    if not email and not phone:
        raise ApiError(400, "validation_failed", "missing email or phone")
    aud = request_aud(request)
    store = state.store
    async with store.lock:
        if email:
            user = store.find_by_email(email, aud)
        else:
            user = store.find_by_phone(format_phone(phone), aud)
        now = utcnow()
        if user is None:
            raise _invalid_credentials()
        if user.is_banned(now):
            # Checked before the password, so it is revealed with any password.
            raise ApiError(400, "user_banned", "User is banned")
        if state.settings.password_check_latency:
            await asyncio.sleep(state.settings.password_check_latency)
        if not verify_password(password, user.password_hash):
            raise _invalid_credentials()
        if email and user.email_confirmed_at is None:
            raise ApiError(400, "email_not_confirmed", "Email not confirmed")
        if phone and user.phone_confirmed_at is None:
            raise ApiError(400, "phone_not_confirmed", "Phone not confirmed")
        user.last_sign_in_at = now
        session = store.create_session(user, "password", now)
        refresh = store.issue_refresh_token(session, None, now)
        warning = weak_password_warning(password, state.settings.password_min_length)
        return token_response(state, user, session, refresh, warning)


async def _refresh_token_grant(request: Request, state: DoubleState) -> Response:
    params = await read_params(request, "RefreshTokenGrantParams", {"refresh_token": GoType.STRING})
    presented = params.get("refresh_token", "")
    if not presented:
        # Corrections: OAuth-shaped 400.
        raise OAuthError("invalid_request", "refresh_token required")
    store = state.store
    async with store.lock:
        # Corrections: a short or malformed token is simply not found.
        token_row = store.refresh_tokens.get(presented)
        if token_row is None:
            raise ApiError(
                400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found"
            )
        user = store.users[token_row.user_id]
        now = utcnow()
        if user.is_banned(now):
            raise ApiError(400, "user_banned", "Invalid Refresh Token: User Banned")
        session = store.sessions[token_row.session_id]
        issued = _rotate(state, token_row, session)
        return token_response(state, user, session, issued, None)


def _rotate(state: DoubleState, presented: RefreshToken, session: Session) -> RefreshToken:
    """The v1 refresh-token algorithm (reference §3.3 and the Corrections)."""
    store = state.store
    now = utcnow()
    if presented.revoked:
        active = store.active_refresh_token(session.id)
        reuse_until = presented.updated_at.timestamp() + state.settings.refresh_token_reuse_interval
        if active is not None and active.parent == presented.token:
            # Corrections: the parent of the active token is tolerated; answer with the active one.
            return active
        if active is not None and now.timestamp() <= reuse_until:
            # Reference §3.3: reuse inside the reuse interval returns the active token.
            return active
        # Corrections: older reuse revokes every refresh token of the session; the session
        # itself stays.
        store.revoke_session_tokens(session.id)
        raise ApiError(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used")
    presented.revoked = True
    presented.updated_at = now
    return store.issue_refresh_token(session, presented.token, now)


def access_token_claims(
    state: DoubleState, user: User, session: Session, iat: int
) -> dict[str, Any]:
    """Reference §4: the claims in serialisation order."""
    claims: dict[str, Any] = {}
    if state.settings.issuer:
        claims["iss"] = state.settings.issuer
    claims.update(
        sub=user.id,
        aud=user.aud,  # a plain string, not an array
        exp=iat + state.settings.jwt_exp,
        iat=iat,
        email=user.email,
        phone=user.phone,
    )
    body = user.to_json(from_database=True)
    claims.update(
        app_metadata=body["app_metadata"],
        user_metadata=body["user_metadata"],
        role=user.role,
        aal=session.aal,
        amr=session.amr,
        session_id=session.id,
        is_anonymous=False,
    )
    return claims


def token_response(
    state: DoubleState,
    user: User,
    session: Session,
    refresh: RefreshToken,
    weak_password: dict[str, Any] | None,
) -> JSONResponse:
    """Reference §3.2: AccessTokenResponse and its diagnostic headers."""
    iat = int(time.time())
    claims = access_token_claims(state, user, session, iat)
    body: dict[str, Any] = {
        "access_token": state.keys.sign_access_token(claims),
        "token_type": "bearer",
        "expires_in": claims["exp"] - iat,
        "expires_at": claims["exp"],
        "refresh_token": refresh.token,
        "user": user.to_json(from_database=True),
    }
    if weak_password is not None:
        body["weak_password"] = weak_password
    headers = {
        "sb-auth-user-id": user.id,
        "sb-auth-session-id": session.id,
        "sb-auth-refresh-token-prefix": refresh.token[:5],
    }
    return JSONResponse(body, headers=headers)
