"""Supabase Auth's error answers, parsed from all of their shapes and mapped onto ours.

Supabase answers errors in three shapes (supabase/auth: internal/api/errors.go): legacy
`{code: <int>, error_code, msg}`, current `{code: <str>, message}`, and OAuth
`{error, error_description}`; its API gateway adds a fourth, `{message}` alone, when it
rejects the `apikey`. Only our own problem vocabulary reaches clients: Supabase's messages
are logged, not forwarded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from auth_backend.errors import (
    EmailExists,
    EmailNotConfirmed,
    InvalidCode,
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidToken,
    ProviderError,
    ProviderMisconfigured,
    RateLimited,
    RefreshTokenReused,
    ServiceError,
    UserBanned,
    ValidationFailed,
    WeakPassword,
)

logger = logging.getLogger(__name__)

# Supabase sends no Retry-After with its 429s; its token bucket refills one request every
# 2 s (150 per 5 min), so a minute is a safe wait that does not invite hammering.
DEFAULT_RETRY_AFTER_SECONDS = 60


class UpstreamFailed(ProviderError):
    """Supabase answered 5xx: a ProviderError on the wire, but one a caller may retry."""


@dataclass(frozen=True, slots=True)
class UpstreamError:
    status: int
    code: str | None
    message: str
    # The gateway, not Supabase Auth, answered: it rejected our API key.
    from_gateway: bool = False
    weak_password_reasons: tuple[str, ...] = ()


def parse_error(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    """Supabase's error answer from its HTTP status, its headers (a case-insensitive mapping,
    as HTTP clients give them) and its raw body."""
    try:
        data: Any = json.loads(body)
    except ValueError:  # not JSON, or not even UTF-8
        data = None
    if not isinstance(data, dict):
        return UpstreamError(status, headers.get("x-sb-error-code"), "")
    code: object = data.get("error_code")  # legacy shape: code is the HTTP status
    if not isinstance(code, str):
        code = data.get("code") if isinstance(data.get("code"), str) else None
    if code is None and isinstance(data.get("error"), str):
        code = data["error"]  # OAuth shape
    if code is None:
        code = headers.get("x-sb-error-code")
    message = next(
        (
            data[key]
            for key in ("msg", "message", "error_description")
            if isinstance(data.get(key), str)
        ),
        "",
    )
    weak = data.get("weak_password")
    reasons = weak.get("reasons") if isinstance(weak, dict) else None
    return UpstreamError(
        status=status,
        code=code if isinstance(code, str) else None,
        message=message,
        from_gateway=code is None and set(data) <= {"message", "hint"} and "message" in data,
        weak_password_reasons=tuple(r for r in reasons or () if isinstance(r, str)),
    )


def _weak_password(error: UpstreamError) -> ServiceError:
    reasons = ", ".join(error.weak_password_reasons) or "policy"
    return WeakPassword(f"The identity provider rejected the password ({reasons}).")


def _rate_limited(_error: UpstreamError) -> ServiceError:
    return RateLimited(DEFAULT_RETRY_AFTER_SECONDS)


def _misconfigured(_error: UpstreamError) -> ServiceError:
    return ProviderMisconfigured()


_BY_CODE: dict[str, Callable[[UpstreamError], ServiceError]] = {
    "email_exists": lambda _e: EmailExists(),
    "user_already_exists": lambda _e: EmailExists(),
    "weak_password": _weak_password,
    "validation_failed": lambda _e: ValidationFailed(
        "The identity provider rejected the request as invalid."
    ),
    "email_address_invalid": lambda _e: ValidationFailed(
        "The identity provider rejected the email address."
    ),
    "invalid_credentials": lambda _e: InvalidCredentials(),
    "email_not_confirmed": lambda _e: EmailNotConfirmed(),
    "user_banned": lambda _e: UserBanned(),
    "over_request_rate_limit": _rate_limited,
    "over_email_send_rate_limit": _rate_limited,
    # The Admin API refused our service key, or a provider is switched off in the project:
    # the operator must act, so the caller sees a 503, never a 401/403 of its own.
    "not_admin": _misconfigured,
    "bad_jwt": _misconfigured,
    "no_authorization": _misconfigured,
    "email_provider_disabled": _misconfigured,
    "signup_disabled": _misconfigured,
}


# Codes that mean something else when the caller's own token or refresh token is at stake:
# then the caller's credential is wrong, not our configuration.
_INVALID_USER_TOKEN: dict[str, Callable[[UpstreamError], ServiceError]] = {
    code: (lambda _e: InvalidToken("The session of this access token has ended."))
    for code in (
        "no_authorization",
        "bad_jwt",
        "session_not_found",
        "user_not_found",
        "user_banned",
    )
}
_INVALID_REFRESH_TOKEN: dict[str, Callable[[UpstreamError], ServiceError]] = {
    **{
        code: (lambda _e: InvalidRefreshToken())
        for code in (
            "refresh_token_not_found",
            "session_not_found",
            "session_expired",
            "validation_failed",
            "user_not_found",
        )
    },
    "refresh_token_already_used": lambda _e: RefreshTokenReused(),
    # Supabase's lock on one session's refresh took too long: transient, so retry soon.
    "conflict": lambda _e: RateLimited(1),
}
USER_TOKEN_CALL = _INVALID_USER_TOKEN
REFRESH_CALL = _INVALID_REFRESH_TOKEN
# Supabase checks a ban before the password, so its user_banned would tell anyone guessing
# that the address has an account (and is banned): answered like any wrong password.
PASSWORD_GRANT_CALL: dict[str, Callable[[UpstreamError], ServiceError]] = {
    "user_banned": lambda _e: InvalidCredentials(),
}


def map_error(
    error: UpstreamError,
    operation: str,
    overrides: dict[str, Callable[[UpstreamError], ServiceError]] | None = None,
) -> ServiceError:
    """Our problem for Supabase's error answer to `operation` (for logs: "admin_create_user").

    `overrides` re-map codes whose meaning depends on the call (USER_TOKEN_CALL,
    REFRESH_CALL)."""
    if overrides and error.code in overrides and not error.from_gateway:
        return overrides[error.code](error)
    if error.from_gateway and error.status in (401, 403):
        logger.error(
            "Supabase's gateway rejected this service's API key on %s (HTTP %s): check "
            "SUPABASE_SERVICE_KEY / SUPABASE_ANON_KEY",
            operation,
            error.status,
        )
        return ProviderMisconfigured()
    if error.status >= 500:
        logger.warning(
            "Supabase failed on %s: HTTP %s %s", operation, error.status, error.code or "-"
        )
        return UpstreamFailed()
    factory = _BY_CODE.get(error.code or "")
    if factory is None:
        logger.warning(
            "unexpected Supabase answer to %s: HTTP %s code=%s message=%r",
            operation,
            error.status,
            error.code,
            error.message[:200],
        )
        return ProviderError()
    mapped = factory(error)
    if isinstance(mapped, ProviderMisconfigured):
        logger.error(
            "Supabase refused %s because of this service's configuration: %s (HTTP %s)",
            operation,
            error.code,
            error.status,
        )
    return mapped


class NothingToMail(ServiceError):
    """generate_link found no account to mail a code to (no such address, or one already
    confirmed): never reaches a client, who is answered as for any other address."""


# generate_link (reference part 2 section 1): recovery for an unknown address is 404
# user_not_found; signup for a confirmed one 422 email_exists, for an unknown one (we send no
# password) 400 validation_failed.
GENERATE_LINK_CALL: dict[str, Callable[[UpstreamError], ServiceError]] = {
    code: (lambda _e: NothingToMail())
    for code in ("user_not_found", "email_exists", "validation_failed")
}
# verify (reference part 2 section 2.3): wrong, expired, used and replaced tokens are one
# 403 otp_expired, which is our invalid_code; a ban stays a ban.
VERIFY_CALL: dict[str, Callable[[UpstreamError], ServiceError]] = {
    "otp_expired": lambda _e: InvalidCode(),
    "validation_failed": lambda _e: InvalidCode(),
}


class PasswordUnchanged(ServiceError):
    """PUT /user refused a new password equal to the current one (422 same_password): for a
    recovery, there is nothing to change."""


# PUT /user with the session verify has just returned (reference part 2 section 4).
UPDATE_PASSWORD_CALL: dict[str, Callable[[UpstreamError], ServiceError]] = {
    **USER_TOKEN_CALL,
    "same_password": lambda _e: PasswordUnchanged(),
}
