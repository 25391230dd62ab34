"""`POST /verify` and `GET /verify` (reference part 2 §2)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..errors import ApiError
from ..state import DoubleState
from ..store import Identity, User, utcnow
from .limits import check_rate_limit
from .mailer import is_otp_expired, is_otp_valid, referrer, token_hash
from .params import GoType, read_params, request_aud
from .passwords import hash_password, random_password
from .token import token_response
from .validation import format_phone, validate_email, validate_phone

VERIFY_FIELDS = {
    "type": GoType.STRING,
    "token": GoType.STRING,
    "token_hash": GoType.STRING,
    "email": GoType.STRING,
    "phone": GoType.STRING,
    "redirect_to": GoType.STRING,
}
# Part 2 §2.3.
LINK_INVALID = "Email link is invalid or has expired"
OTP_INVALID = "Token has expired or is invalid"
# Part 2 §2.2: the first half of a secure email change.
SINGLE_CONFIRMATION = (
    "Confirmation link accepted. Please proceed to confirm link sent to the other email"
)
_PHONE_TYPES = ("sms", "phone_change")


@dataclasses.dataclass
class _Params:
    type: str
    token: str = ""
    token_hash: str = ""
    email: str = ""
    phone: str = ""
    redirect_to: str = ""


def _validate_post(params: _Params) -> None:
    """VerifyParams.Validate for POST, part 2 §2.1 "Input validation" in order."""
    if not params.type:
        raise ApiError(400, "validation_failed", "Verify requires a verification type")
    if bool(params.token) == bool(params.token_hash):
        raise ApiError(400, "validation_failed", "Verify requires either a token or a token hash")
    if params.token:
        if params.phone and not params.email:
            params.phone = validate_phone(params.phone)
            params.token_hash = token_hash(params.phone, params.token)
        elif params.email and not params.phone:
            try:
                params.email = validate_email(params.email)
            except ApiError as exc:
                # Part 2 §2.1: 422 here, not the 400 of part 1 §3.1.
                raise ApiError(422, "validation_failed", "Invalid email format") from exc
            params.token_hash = token_hash(params.email, params.token)
        else:
            raise ApiError(
                400,
                "validation_failed",
                "Only an email address or phone number should be provided on verify",
            )
    elif params.email or params.phone or params.redirect_to:
        raise ApiError(400, "validation_failed", "Only the token_hash and type should be provided")


def _by_token_hash(state: DoubleState, params: _Params) -> User:
    """verifyTokenHash (part 2 §2.1, token-hash shape): look the hash up in the type's slot;
    not found, replaced, used or expired are all 403 "Email link is invalid or has expired".
    `email` becomes `signup` or `magiclink` by the slot that matched."""
    users = list(state.store.users.values())
    hashed = params.token_hash
    if params.type == "email":
        user = next((u for u in users if hashed in (u.confirmation_token, u.recovery_token)), None)
    elif params.type in ("signup", "invite"):
        user = next((u for u in users if u.confirmation_token == hashed), None)
    elif params.type in ("recovery", "magiclink"):
        user = next((u for u in users if u.recovery_token == hashed), None)
    elif params.type == "email_change":
        user = next(
            (
                u
                for u in users
                if hashed in (u.email_change_token_current, u.email_change_token_new)
            ),
            None,
        )
    else:
        # Part 2 §2.1: sms/phone_change and anything else.
        raise ApiError(400, "validation_failed", "Invalid email verification type")
    if user is None:
        raise ApiError(403, "otp_expired", LINK_INVALID)
    now = utcnow()
    if user.is_banned(now):
        # Part 2 §2.3 / §8: checked once the user is found, before expiry.
        raise ApiError(403, "user_banned", "User is banned")
    sent_at = user.confirmation_sent_at
    if params.type == "email":
        params.type = "signup"
        if user.recovery_token == hashed:
            sent_at, params.type = user.recovery_sent_at, "magiclink"
    elif params.type in ("recovery", "magiclink"):
        sent_at = user.recovery_sent_at
    elif params.type == "email_change":
        sent_at = user.email_change_sent_at
    if is_otp_expired(sent_at, now, state.settings.otp_exp):
        raise ApiError(403, "otp_expired", LINK_INVALID)
    return user


def _by_address_and_otp(state: DoubleState, params: _Params, aud: str) -> User:
    """verifyUserAndToken (part 2 §2.1, email/phone + OTP shapes): every failure is 403
    "Token has expired or is invalid"; a banned user is refused before the token is checked."""
    store = state.store
    hashed = params.token_hash
    user: User | None
    if params.type == "sms":
        user = store.find_by_phone(format_phone(params.phone), aud)
    elif params.type == "phone_change":
        user = None  # phone changes are not modelled: no user has a pending one
    elif params.type == "email_change":
        # FindUserForEmailChange: the current address with its token, or the new address
        # with the new-address token.
        user = next(
            (
                u
                for u in store.users.values()
                if u.aud == aud
                and (
                    (u.email == params.email and hashed == u.email_change_token_current)
                    or (u.email_change == params.email and hashed == u.email_change_token_new)
                )
            ),
            None,
        )
    else:
        user = store.find_by_email(params.email, aud) if params.email else None
    if user is None:
        raise ApiError(403, "otp_expired", OTP_INVALID)
    now = utcnow()
    if user.is_banned(now):
        raise ApiError(403, "user_banned", "User is banned")
    otp_exp = state.settings.otp_exp
    confirmation_ok = is_otp_valid(
        hashed, user.confirmation_token, user.confirmation_sent_at, now, otp_exp
    )
    recovery_ok = is_otp_valid(hashed, user.recovery_token, user.recovery_sent_at, now, otp_exp)
    if params.type == "email":
        valid = confirmation_ok or recovery_ok
        params.type = "signup" if confirmation_ok else "magiclink"
    elif params.type in ("signup", "invite"):
        valid = confirmation_ok
    elif params.type in ("recovery", "magiclink"):
        valid = recovery_ok
    elif params.type == "email_change":
        sent = user.email_change_sent_at
        valid = is_otp_valid(
            hashed, user.email_change_token_current, sent, now, otp_exp
        ) or is_otp_valid(hashed, user.email_change_token_new, sent, now, otp_exp)
    else:
        # Part 2 §2.1: no slot matches an unknown type (inferred); the double has no phone
        # tokens, so sms never matches either.
        valid = False
    if not valid:
        raise ApiError(403, "otp_expired", OTP_INVALID)
    return user


def _confirm(user: User) -> None:
    """User.Confirm: email confirmed, `email_verified: true` in user_metadata; the
    confirmation slot (and, per part 2 §2.3, the other one-time tokens) cleared."""
    now = utcnow()
    user.email_confirmed_at = now
    user.merge_user_metadata({"email_verified": True})
    user.clear_one_time_tokens()
    user.updated_at = now


def _signup_verify(user: User) -> None:
    """Part 2 §2.1 `signup`/`invite`: an invitee without a password gets a random one; the
    email is confirmed and the email identity marked verified."""
    if not user.has_password() and user.invited_at is not None:
        user.password_hash = hash_password(random_password())
    _confirm(user)
    for identity in user.identities:
        if identity.email and user.email and identity.email == user.email:
            identity.identity_data["email_verified"] = True


def _recover_verify(user: User) -> None:
    """Part 2 §2.1 `recovery`/`magiclink`: clears the tokens and confirms an unconfirmed
    email. The password is not changed."""
    user.clear_one_time_tokens()
    if user.email_confirmed_at is None:
        _confirm(user)


def _email_change_verify(state: DoubleState, user: User, params: _Params) -> bool:
    """Part 2 §2.4. Returns False for the first half of a double confirmation."""
    settings = state.settings
    now = utcnow()
    if (
        not settings.mailer_autoconfirm
        and settings.secure_email_change_enabled
        and user.email_change_confirm_status == 0
        and user.email
    ):
        user.email_change_confirm_status = 1
        if params.token_hash == user.email_change_token_current:
            user.email_change_token_current = ""
        elif params.token_hash == user.email_change_token_new:
            user.email_change_token_new = ""
        user.updated_at = now
        return False
    new_email = user.email_change
    identity = next((i for i in user.identities if i.provider == "email"), None)
    if identity is None:
        data = {"sub": user.id, "email": new_email, "email_verified": True}
        data["phone_verified"] = False
        user.identities.append(Identity(str(uuid.uuid4()), "email", data, new_email, now))
    else:
        identity.identity_data.update(email=new_email, email_verified=True)
        identity.email = new_email
    # ConfirmEmailChange: the address swaps, the pending change and its tokens are cleared.
    user.email, user.email_change = new_email, ""
    user.email_change_sent_at = None
    user.email_change_confirm_status = 0
    if user.email_confirmed_at is None:
        user.email_confirmed_at = now
    user.clear_one_time_tokens()
    user.updated_at = now
    return True


async def _run_verify(
    request: Request, state: DoubleState, params: _Params, *, by_hash: bool
) -> Response | None:
    """Find and check the token, apply the type's effect and issue a session (amr `otp`,
    part 2 §2.2). None means "first half of an email change accepted"."""
    store = state.store
    async with store.lock:
        if by_hash:
            user = _by_token_hash(state, params)
        else:
            user = _by_address_and_otp(state, params, request_aud(request))
        if params.type in ("signup", "invite"):
            _signup_verify(user)
        elif params.type in ("recovery", "magiclink"):
            _recover_verify(user)
        elif params.type == "email_change":
            if not _email_change_verify(state, user, params):
                return None
        else:
            # sms with a matching token cannot happen (no phone tokens exist).
            raise ApiError(400, "validation_failed", "Unsupported verification type")
        now = utcnow()
        user.last_sign_in_at = now
        session = store.create_session(user, "otp", now)
        refresh = store.issue_refresh_token(session, None, now)
        return token_response(state, user, session, refresh, None)


async def verify_post(request: Request, state: DoubleState) -> Response:
    # Part 1 §6: GOTRUE_RATE_LIMIT_VERIFY, before the handler.
    check_rate_limit(request, state.verify_limiter)
    raw = await read_params(request, "VerifyParams", VERIFY_FIELDS)
    params = _Params(**{"type": "", **raw})
    _validate_post(params)
    by_hash = not params.token
    response = await _run_verify(request, state, params, by_hash=by_hash)
    if response is None:
        # Part 2 §2.2: no session; `code` is the string "200".
        return JSONResponse({"msg": SINGLE_CONFIRMATION, "code": "200"})
    return response


def _fragment(values: dict[str, str]) -> str:
    """url.Values.Encode (sorted keys) plus the trailing `sb=` of part 2 §2.5's examples."""
    return urlencode(sorted(values.items())) + "&sb="


async def verify_get(request: Request, state: DoubleState) -> Response:
    """Part 2 §2.5: the `token` query value is the token hash; the answer is a 303 to the
    allowed redirect (or SITE_URL), with the session or the error in the fragment."""
    check_rate_limit(request, state.verify_limiter)
    query = request.query_params
    params = _Params(type=query.get("type", ""), token_hash=query.get("token", ""))
    if not params.type:
        raise ApiError(400, "validation_failed", "Verify requires a verification type")
    if not params.token_hash:
        # Not in the reference: GoTrue's GET wording.
        raise ApiError(400, "validation_failed", "Verify requires a token or a token hash")
    redirect_to = referrer(request, state.settings)
    try:
        response = await _run_verify(request, state, params, by_hash=True)
    except ApiError as exc:
        # prepErrorRedirectURL: the OAuth error name for the status, then code and text.
        error = {400: "invalid_request", 401: "unauthorized_client", 403: "access_denied"}.get(
            exc.status, "server_error"
        )
        values = {"error": error, "error_code": exc.code or "", "error_description": exc.message}
        return RedirectResponse(f"{redirect_to}#{_fragment(values)}", 303)
    if response is None:
        values = {"message": SINGLE_CONFIRMATION}
        return RedirectResponse(f"{redirect_to}#{_fragment(values)}", 303)
    body: dict[str, Any] = json.loads(bytes(response.body))
    values = {
        "access_token": body["access_token"],
        "expires_at": str(body["expires_at"]),
        "expires_in": str(body["expires_in"]),
        "refresh_token": body["refresh_token"],
        "token_type": body["token_type"],
        "type": params.type,  # `email` has become signup or magiclink by now
    }
    return RedirectResponse(f"{redirect_to}#{_fragment(values)}", 303)
