"""The error vocabulary: one exception type per problem, each with a stable code.

Providers and the domain raise these; `api.problems` turns them into RFC 9457 responses. The
codes are the `ProblemCode` enum of the contract, and a test keeps the two identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    message: str
    # The validator's own name for the problem (pydantic's error type, e.g.
    # `string_too_short`), for handlers that answer some problems with a more specific code;
    # never shown to the client.
    kind: str | None = None


# Retry-After of the 503s. Unavailable: a restarted or failed-over database, or a Supabase
# hiccup, is typically back within seconds, and 5 s spreads retries without making users
# wait long. Misconfigured: only an operator can fix it, so clients should back off further.
PROVIDER_UNAVAILABLE_RETRY_AFTER_SECONDS = 5
PROVIDER_MISCONFIGURED_RETRY_AFTER_SECONDS = 60


class ServiceError(Exception):
    """Base of every error a client may see. `detail` is shown to the client verbatim."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail()
        super().__init__(self.detail)

    @classmethod
    def default_detail(cls) -> str:
        return cls.title + "."

    def headers(self) -> dict[str, str]:
        return {}


class ValidationFailed(ServiceError):
    status = 400
    code = "validation_failed"
    title = "Request validation failed"

    def __init__(self, detail: str | None = None, errors: list[FieldProblem] | None = None) -> None:
        super().__init__(detail or "The request does not match the contract.")
        self.errors = errors or []


class WeakPassword(ServiceError):
    status = 400
    code = "weak_password"
    title = "Password too weak"


class InvalidCode(ServiceError):
    """A mailed code or link that is wrong, expired, used, superseded or dead after too many
    wrong guesses: one answer for all, so that none of them can be told apart."""

    status = 400
    code = "invalid_code"
    title = "Invalid code"

    @classmethod
    def default_detail(cls) -> str:
        return "The code is wrong, expired or already used; ask for a new one."


class EmailExists(ServiceError):
    status = 409
    code = "email_exists"
    title = "Email already registered"

    @classmethod
    def default_detail(cls) -> str:
        return "An account with this email address already exists."


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"
    title = "Forbidden"

    @classmethod
    def default_detail(cls) -> str:
        return "This endpoint is served only to the operators' networks."


class InvalidCredentials(ServiceError):
    status = 401
    code = "invalid_credentials"
    title = "Invalid credentials"

    @classmethod
    def default_detail(cls) -> str:
        # One message for unknown email and wrong password, so neither is revealed.
        return "The email address or password is incorrect."


class InvalidToken(ServiceError):
    status = 401
    code = "invalid_token"
    title = "Invalid token"

    @classmethod
    def default_detail(cls) -> str:
        return "The access token is missing, malformed, expired or not valid here."

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class InvalidRefreshToken(ServiceError):
    status = 401
    code = "invalid_refresh_token"
    title = "Invalid refresh token"

    @classmethod
    def default_detail(cls) -> str:
        return "The refresh token is unknown, already used, or its session has ended."


class RefreshTokenReused(InvalidRefreshToken):
    """A rotated token came back: whoever holds it, the session is revoked for everyone."""


class MissingToken(InvalidToken):
    """No credentials at all: RFC 6750 section 3.1 says to send no error code then."""

    @classmethod
    def default_detail(cls) -> str:
        return "Send an access token as 'Authorization: Bearer <token>'."

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class EmailNotConfirmed(ServiceError):
    status = 403
    code = "email_not_confirmed"
    title = "Email not confirmed"

    @classmethod
    def default_detail(cls) -> str:
        return "Confirm the email address before logging in."


class UserBanned(ServiceError):
    status = 403
    code = "user_banned"
    title = "User banned"

    @classmethod
    def default_detail(cls) -> str:
        return "This account is not allowed to log in."


class NotFound(ServiceError):
    status = 404
    code = "not_found"
    title = "Not found"

    @classmethod
    def default_detail(cls) -> str:
        return "There is no such resource."


class MethodNotAllowed(ServiceError):
    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"

    def __init__(self, allowed: str, detail: str | None = None) -> None:
        super().__init__(detail or "This method is not allowed here.")
        self.allowed = allowed

    def headers(self) -> dict[str, str]:
        return {"Allow": self.allowed} if self.allowed else {}


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class UnsupportedMediaType(ServiceError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class RateLimited(ServiceError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, retry_after_seconds: int, detail: str | None = None) -> None:
        super().__init__(detail or f"Too many requests; retry after {retry_after_seconds} seconds.")
        self.retry_after_seconds = max(1, retry_after_seconds)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class ProviderError(ServiceError):
    status = 502
    code = "provider_error"
    title = "Identity provider error"

    @classmethod
    def default_detail(cls) -> str:
        return "The identity provider failed to handle the request."


class ProviderUnavailable(ServiceError):
    status = 503
    code = "provider_unavailable"
    title = "Identity provider unavailable"

    @classmethod
    def default_detail(cls) -> str:
        return "The identity provider could not be reached."

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(PROVIDER_UNAVAILABLE_RETRY_AFTER_SECONDS)}


class ProviderMisconfigured(ServiceError):
    status = 503
    code = "provider_misconfigured"
    title = "Identity provider misconfigured"

    @classmethod
    def default_detail(cls) -> str:
        # The operator must act, not the caller: say nothing about which credential failed.
        return "The identity service is misconfigured; its operators have been alerted."

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(PROVIDER_MISCONFIGURED_RETRY_AFTER_SECONDS)}


class NotSupportedByProvider(ServiceError):
    """The configured identity provider does not offer this operation's capability."""

    status = 501
    code = "not_supported_by_provider"
    title = "Not supported by this identity provider"

    def __init__(self, capability: str, detail: str | None = None) -> None:
        super().__init__(detail or f"The configured identity provider does not offer {capability}.")
        self.capability = capability


class InternalError(ServiceError):
    status = 500
    code = "internal_error"
    title = "Internal error"

    @classmethod
    def default_detail(cls) -> str:
        return "Something went wrong on our side."


ALL_ERRORS: tuple[type[ServiceError], ...] = (
    ValidationFailed,
    WeakPassword,
    InvalidCode,
    EmailExists,
    InvalidCredentials,
    InvalidToken,
    InvalidRefreshToken,
    EmailNotConfirmed,
    UserBanned,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    ProviderError,
    ProviderUnavailable,
    ProviderMisconfigured,
    NotSupportedByProvider,
    InternalError,
)
