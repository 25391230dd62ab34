"""`GET /user`, `PUT /user` and `POST /logout` (reference §3.4, §3.5, part 2 §4)."""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import ApiError
from ..state import DoubleState
from ..store import User, timestamp, utcnow
from .auth import require_user
from .limits import check_rate_limit
from .links import DUPLICATE_EMAIL_MSG
from .mailer import generate_otp, token_hash
from .params import DEFAULT_AUD, GoType, read_params
from .passwords import check_password_strength, hash_password, verify_password
from .validation import validate_email, validate_phone

# Part 2 §4: UserUpdateParams.
USER_UPDATE_FIELDS = {
    "email": GoType.STRING,
    "phone": GoType.STRING,
    "channel": GoType.STRING,
    "password": GoType.STRING,
    "current_password": GoType.STRING,
    "nonce": GoType.STRING,
    "data": GoType.OBJECT,
    "app_metadata": GoType.OBJECT,
    "code_challenge": GoType.STRING,
    "code_challenge_method": GoType.STRING,
}
# Part 2 §4 #3: GOTRUE_JWT_ADMIN_GROUP_NAME default.
ADMIN_GROUP_NAME = "admin"

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


def _check_email_frequency(user: User, max_frequency: float) -> None:
    """Part 2 §4 #14 / §3: a change mail within GOTRUE_SMTP_MAX_FREQUENCY of the last one is
    429 `over_email_send_rate_limit` "For security purposes, you can only request this after
    N seconds." (N = the seconds left, rounded up)."""
    sent_at = user.email_change_sent_at
    if sent_at is None:
        return
    left = sent_at.timestamp() + max_frequency - utcnow().timestamp()
    if left > 0:
        raise ApiError(
            429,
            "over_email_send_rate_limit",
            f"For security purposes, you can only request this after {math.ceil(left)} seconds.",
        )


async def update_user(request: Request, state: DoubleState) -> Response:
    """UserUpdate (part 2 §4): the checks in code order, then the effects. The MFA (#4),
    anonymous (#5), SSO (#6), reauthentication (#9-10) and current-password (#11-12) checks
    cannot apply: the double has no factors, anonymous or SSO users, and those settings are
    off by default."""
    store, settings = state.store, state.settings
    async with store.lock:
        caller = require_user(request, state)
    # Part 1 §6 / part 2 §4: the OTP limiter, behind the authentication middleware.
    check_rate_limit(request, state.otp_limiter)
    params = await read_params(request, "UserUpdateParams", USER_UPDATE_FIELDS)
    # 1: email, phone and channel.
    email = validate_email(params["email"]) if params.get("email") else ""
    phone = ""
    if params.get("phone"):
        phone = validate_phone(params["phone"])
        if params.get("channel", "sms") not in ("sms", ""):
            # Not in the reference: GoTrue's InvalidChannelError; WhatsApp needs Twilio.
            message = "Invalid channel, supported values are 'sms' or 'whatsapp'"
            raise ApiError(400, "validation_failed", message)
    password: str | None = params.get("password")
    if password is not None:
        # 2: the policy, including "" (422 `weak_password`, part 1 §2 body).
        check_password_strength(password, settings.password_min_length)
    async with store.lock:
        user = caller.user
        if "app_metadata" in params and not (
            user.role == ADMIN_GROUP_NAME and user.aud == DEFAULT_AUD
        ):
            raise ApiError(403, "not_admin", "Updating app_metadata requires admin privileges")
        changes_email = bool(email) and email != user.email
        if changes_email:
            other = store.find_by_email(email, user.aud)
            if other is not None and other.id != user.id:
                raise ApiError(422, "email_exists", DUPLICATE_EMAIL_MSG)
        changes_phone = bool(phone) and phone != user.phone
        if changes_phone:
            other = store.find_by_phone(phone, user.aud)
            if other is not None and other.id != user.id:
                raise ApiError(
                    422, "phone_exists", "Phone number already registered by another user"
                )
        if password and user.has_password() and verify_password(password, user.password_hash):
            raise ApiError(
                422, "same_password", "New password should be different from the old password."
            )
        if changes_email:
            _check_email_frequency(user, settings.smtp_max_frequency)
        if changes_phone:
            # Not in the reference (inferred): the double has no SMS provider, and GoTrue
            # fails the whole update when it cannot get one to send the phone-change code.
            raise ApiError(500, "unexpected_failure", "Unable to get SMS provider")

        now = utcnow()
        if password is not None:
            # Part 2 §4 "Effects of a password change": every pending one-time token is
            # cleared and every *other* session deleted (LogoutAllExceptMe).
            user.password_hash = hash_password(password)
            user.clear_one_time_tokens()
            user.confirmation_sent_at = user.recovery_sent_at = None
            user.email_change_sent_at = None
            store.logout(user.id, keep=caller.session.id if caller.session else None)
        if "data" in params:
            user.merge_user_metadata(params["data"])
        if "app_metadata" in params:
            for key, value in params["app_metadata"].items():
                if value is None:
                    user.app_metadata.pop(key, None)
                else:
                    user.app_metadata[key] = value
        if changes_email:
            _send_email_change(state, user, email)
        user.updated_at = now
        # Part 2 §4: 200 with the User object, not a new session.
        return JSONResponse(user.to_json(from_database=True))


def _send_email_change(state: DoubleState, user: User, new_email: str) -> None:
    """Part 2 §4 "Effects of an email change": `email` stays; `new_email` and
    `email_change_sent_at` are set; with secure change on, both addresses get an OTP. The
    double sends nothing: it records the would-be mail for `GET /__double/mail`."""
    now = utcnow()
    otp_new = generate_otp()
    user.email_change = new_email
    user.email_change_token_new = token_hash(new_email, otp_new)
    otp_current = ""
    if state.settings.secure_email_change_enabled and user.email:
        otp_current = generate_otp()
        user.email_change_token_current = token_hash(user.email, otp_current)
    user.email_change_confirm_status = 0
    user.email_change_sent_at = now
    state.store.mail.append(
        {
            "type": "email_change",
            "user_id": user.id,
            "email": user.email,
            "new_email": new_email,
            "otp_current": otp_current,
            "otp_new": otp_new,
            "token_hash_current": user.email_change_token_current if otp_current else "",
            "token_hash_new": user.email_change_token_new,
            "created_at": timestamp(now),
        }
    )
