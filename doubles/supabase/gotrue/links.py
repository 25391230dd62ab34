"""`POST /admin/generate_link` (reference part 2 §1)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import ApiError
from ..state import DoubleState
from ..store import Identity, User, timestamp, utcnow
from .auth import require_admin
from .mailer import action_link, generate_otp, is_redirect_url_valid, referrer, token_hash
from .params import GoType, read_params, request_aud
from .passwords import check_password_strength, hash_password, random_password
from .validation import validate_email

# Reference part 2 §1 "Request body" (GenerateLinkParams).
GENERATE_LINK_FIELDS = {
    "type": GoType.STRING,
    "email": GoType.STRING,
    "new_email": GoType.STRING,
    "password": GoType.STRING,
    "data": GoType.OBJECT,
    "redirect_to": GoType.STRING,
}
LINK_TYPES = (
    "signup",
    "invite",
    "magiclink",
    "recovery",
    "email_change_current",
    "email_change_new",
)
# Part 1 §3.1: the duplicate-email message.
DUPLICATE_EMAIL_MSG = "A user with this email address has already been registered"


def validate_required_email(email: str) -> str:
    """GoTrue's validateEmail: an empty address is refused before the part 1 §3.1 checks
    (the wording "An email address is required" is GoTrue's, not in the reference)."""
    if not email:
        raise ApiError(400, "validation_failed", "An email address is required")
    return validate_email(email)


def new_email_user(
    email: str, aud: str, password_hash: str, data: dict[str, Any], now: dt.datetime
) -> User:
    """A user as the signup path creates it (part 2 §1: "Creates the user"): default role,
    `data` as user_metadata, one unverified email identity (as in part 1 §3.1)."""
    user_id = str(uuid.uuid4())
    user = User(
        id=user_id,
        aud=aud,
        role="authenticated",  # GOTRUE_JWT_DEFAULT_GROUP_NAME
        email=email,
        phone="",
        password_hash=password_hash,
        created_at=now,
        updated_at=now,
        app_metadata={"provider": "email", "providers": ["email"]},
        user_metadata=dict(data),
    )
    identity_data = {"sub": user_id, "email": email, "email_verified": False}
    identity_data["phone_verified"] = False
    user.identities.append(Identity(str(uuid.uuid4()), "email", identity_data, email, now))
    return user


async def admin_generate_link(request: Request, state: DoubleState) -> Response:
    """adminGenerateLink, its checks in the server's order. Sends no mail."""
    store, settings = state.store, state.settings
    async with store.lock:
        require_admin(request, state)
    params = await read_params(request, "GenerateLinkParams", GENERATE_LINK_FIELDS)
    link_type: str = params.get("type", "")
    email = validate_required_email(params.get("email", ""))
    # Part 2 §1 "Redirect URL": the body's `redirect_to` if allowed, else the query parameter
    # (or Referer) if allowed, else SITE_URL; a rejected one is replaced silently.
    redirect_to = referrer(request, settings)
    if is_redirect_url_valid(settings, params.get("redirect_to", "")):
        redirect_to = params["redirect_to"]
    aud = request_aud(request)

    async with store.lock:
        user = store.find_by_email(email, aud)
        password = params.get("password", "")
        if user is None:
            if link_type == "magiclink":
                # Part 2 §1: silently becomes `signup` with a random password.
                link_type, password = "signup", random_password()
            elif link_type in ("recovery", "email_change_current", "email_change_new"):
                raise ApiError(404, "user_not_found", "User with this email not found")

        otp = generate_otp()
        hashed = token_hash(email, otp)  # part 2 §1: always with the request's email
        signup_user: User | None = None
        if link_type == "signup" and user is None:
            # Part 2 §1: `password` is required for a new user and must pass the policy.
            if not password:
                raise ApiError(400, "validation_failed", "Signup requires a valid password")
            check_password_strength(password, settings.password_min_length)
            data = params.get("data", {})
            signup_user = new_email_user(email, aud, hash_password(password), data, utcnow())

        if user is not None and settings.token_write_latency:
            await asyncio.sleep(settings.token_write_latency)
        now = utcnow()
        if link_type in ("magiclink", "recovery"):
            assert user is not None
            # Part 2 §1: magiclink and recovery share the recovery slot.
            user.recovery_token, user.recovery_sent_at = hashed, now
            slot_token = hashed
        elif link_type == "invite":
            if user is not None and user.email_confirmed_at is not None:
                raise ApiError(422, "email_exists", DUPLICATE_EMAIL_MSG)
            if user is None:
                # Part 2 §1: the invitee is created with no password.
                user = new_email_user(email, aud, "", params.get("data", {}), now)
                store.users[user.id] = user
            user.confirmation_token, user.confirmation_sent_at = hashed, now
            user.invited_at = now
            slot_token = hashed
        elif link_type == "signup":
            if user is not None:
                if user.email_confirmed_at is not None:
                    raise ApiError(422, "email_exists", DUPLICATE_EMAIL_MSG)
                # Part 2 §1: `data` merged, password not changed.
                user.merge_user_metadata(params.get("data", {}))
            else:
                assert signup_user is not None
                user = signup_user
                store.users[user.id] = user
            user.confirmation_token, user.confirmation_sent_at = hashed, now
            slot_token = hashed
        elif link_type in ("email_change_current", "email_change_new"):
            assert user is not None
            if link_type == "email_change_current" and not settings.secure_email_change_enabled:
                raise ApiError(
                    400,
                    "validation_failed",
                    "Enable secure email change to generate link for current email",
                )
            new_email = validate_required_email(params.get("new_email", ""))
            other = store.find_by_email(new_email, user.aud)
            if other is not None and other.id != user.id:
                raise ApiError(422, "email_exists", DUPLICATE_EMAIL_MSG)
            user.email_change, user.email_change_sent_at = new_email, now
            user.email_change_confirm_status = 0
            if link_type == "email_change_current":
                user.email_change_token_current = hashed
                slot_token = hashed
            else:
                # Part 2 §1 "Trap": the stored token uses the new address.
                user.email_change_token_new = slot_token = token_hash(new_email, otp)
        else:
            raise ApiError(
                400, "validation_failed", f"Invalid email action link type requested: {link_type}"
            )
        user.updated_at = now

        link_query_type = "email_change" if link_type.startswith("email_change") else link_type
        link = action_link(state.config.base_url, slot_token, link_query_type, redirect_to)
        extra = {
            "action_link": link,
            "email_otp": otp,
            "hashed_token": hashed,
            "verification_type": link_type,
            "redirect_to": redirect_to,
        }
        store.links.append(
            {
                "type": params.get("type", ""),
                "email": email,
                "new_email": params.get("new_email", ""),
                "user_id": user.id,
                "token": slot_token,  # what the slot stores (and the link carries)
                "created_at": timestamp(now),
                **extra,
            }
        )
        # Part 2 §1: 200, the User object with five extra top-level fields.
        return JSONResponse({**user.to_json(from_database=True), **extra})
