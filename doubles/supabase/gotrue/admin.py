"""`POST /admin/users` (reference §3.1)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import ApiError
from ..state import DoubleState
from ..store import Identity, User, utcnow
from .auth import require_admin
from .params import GoType, read_params, request_aud
from .passwords import hash_password, random_password
from .validation import is_supported_hash, parse_go_duration, validate_email, validate_phone

# Reference §3.1: the fields of AdminUserParams; everything else is ignored.
ADMIN_USER_FIELDS = {
    "aud": GoType.STRING,
    "role": GoType.STRING,
    "email": GoType.STRING,
    "phone": GoType.STRING,
    "password": GoType.STRING,
    "password_hash": GoType.STRING,
    "email_confirm": GoType.BOOL,
    "phone_confirm": GoType.BOOL,
    "user_metadata": GoType.OBJECT,
    "app_metadata": GoType.OBJECT,
    "ban_duration": GoType.STRING,
    "id": GoType.STRING,
}
_DB_ERROR = "Database error creating new user"


async def admin_create_user(request: Request, state: DoubleState) -> Response:
    async with state.store.lock:
        require_admin(request, state)
    params = await read_params(request, "AdminUserParams", ADMIN_USER_FIELDS)
    user = await create_user(state, params, request_aud(request), simulate_db_race=True)
    # Reference §3.1: success is 200, not 201, with the User object built in memory.
    return JSONResponse(user.to_json(from_database=False))


async def create_user(
    state: DoubleState, params: dict[str, Any], default_aud: str, *, simulate_db_race: bool
) -> User:
    """adminUserCreate, checks in the server's order (reference §3.1 table)."""
    store = state.store
    aud = params.get("aud") or default_aud
    email, phone = params.get("email", ""), params.get("phone", "")
    if not email and not phone:
        raise ApiError(
            400, "validation_failed", "Cannot create a user without either an email or phone"
        )
    providers: list[str] = []
    if email:
        email = validate_email(email)
        async with store.lock:
            if store.find_by_email(email, aud):
                raise ApiError(
                    422,
                    "email_exists",
                    "A user with this email address has already been registered",
                )
        providers.append("email")
    if phone:
        phone = validate_phone(phone)
        async with store.lock:
            if store.find_by_phone(phone, aud):
                raise ApiError(
                    422, "phone_exists", "Phone number already registered by another user"
                )
        providers.append("phone")

    password_hash = params.get("password_hash", "")
    if "password" in params and password_hash:
        raise ApiError(
            400, "validation_failed", "Only a password or a password hash should be provided"
        )
    if password_hash:
        if not is_supported_hash(password_hash):
            # Not in the reference: the hash fails to parse and GoTrue wraps that in a 500.
            raise ApiError(500, "unexpected_failure", "Error creating user")
    else:
        # Reference §3.1: no strength check here; >72 bytes panics (hash_password).
        password_hash = hash_password(params.get("password") or random_password())

    user_id = str(uuid.uuid4())
    if params.get("id"):
        try:
            custom_id = uuid.UUID(params["id"])
        except ValueError as exc:
            raise ApiError(
                400, "validation_failed", "ID must conform to the uuid v4 format"
            ) from exc
        if custom_id.int == 0:
            raise ApiError(400, "validation_failed", "ID cannot be a nil uuid")
        user_id = str(custom_id)

    ban = None
    if params.get("ban_duration", "none") != "none":
        try:
            ban = parse_go_duration(params["ban_duration"])
        except ValueError as exc:
            raise ApiError(
                400, "validation_failed", f"invalid format for ban duration: {exc}"
            ) from exc

    if simulate_db_race:
        # Corrections: the duplicate check above and the insert below are not atomic in the
        # server, so concurrent creates of one email meet the database's unique constraint.
        await asyncio.sleep(state.settings.create_user_db_latency)

    now = utcnow()
    user = User(
        id=user_id,
        aud=aud,
        role=params.get("role") or "authenticated",  # GOTRUE_JWT_DEFAULT_GROUP_NAME
        email=email,
        phone=phone,
        password_hash=password_hash,
        created_at=now,
        updated_at=now,
        # Reference §3.1: app_metadata is merged over {provider, providers}; null deletes.
        app_metadata={"provider": providers[0], "providers": providers},
        user_metadata=dict(params.get("user_metadata", {})),
    )
    for key, value in params.get("app_metadata", {}).items():
        if value is None:
            user.app_metadata.pop(key, None)
        else:
            user.app_metadata[key] = value
    for provider, address in (("email", email), ("phone", phone)):
        if address:
            # Reference §3.1: identity_data stays unverified even with email_confirm.
            data = {"sub": user_id, provider: address}
            data.update(email_verified=False, phone_verified=False)
            identity_email = address if provider == "email" else ""
            user.identities.append(Identity(str(uuid.uuid4()), provider, data, identity_email, now))
    if params.get("email_confirm"):
        user.email_confirmed_at = now
        user.user_metadata["email_verified"] = True
    if params.get("phone_confirm"):
        # Reference §3.1 "Same idea for the phone" (inferred: phone_verified in user_metadata).
        user.phone_confirmed_at = now
        user.user_metadata["phone_verified"] = True
    if ban:
        user.banned_until = now + ban

    async with store.lock:
        clash = (
            user_id in store.users
            or (email and store.find_by_email(email, aud))
            or (phone and store.find_by_phone(phone, aud))
        )
        if clash:
            # Corrections: the losers of a create race get 500, not 422. Reference §3.1: a
            # duplicate custom id probably ends here too (inferred).
            raise ApiError(500, "unexpected_failure", _DB_ERROR)
        store.users[user_id] = user
    return user
