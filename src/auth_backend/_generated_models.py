# GENERATED from openapi/openapi.yaml by datamodel-code-generator. DO NOT EDIT.
# Regenerate with `make generate`; `make check` fails when this file drifts from the contract.

from __future__ import annotations

from typing import Annotated, Literal
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel
from uuid import UUID


class LoginRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    email: Annotated[str, Field(examples=["ada@example.com"], max_length=254)]
    """
    An email address (RFC 5321 `Mailbox`, at most 254 characters); unicode is accepted.
    Quoted local parts, IP-literal domains and the special-use domains `.arpa`,
    `.invalid`, `.local`, `.localhost` and `.onion` are refused with
    `validation_failed`; `.test` is accepted for test suites.

    """
    password: Annotated[str, Field(examples=["correct horse battery staple"], max_length=72)]
    """
    No account has a longer password (passwords are at most 72 bytes of UTF-8), so
    longer input is refused with `validation_failed` before any work is done on it.

    """


class RefreshRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    refresh_token: Annotated[
        str, Field(examples=["v2xq3b6t7k4m9pq1r5s8u0w2y4a6c8e0"], max_length=1024, min_length=1)
    ]


class PasswordGrantForm(BaseModel):
    """
    The OAuth2 resource-owner password form (RFC 6749 section 4.3.2).
    """

    grant_type: Literal["password"] | None = None
    """
    Optional; when present it must be `password`.
    """
    username: Annotated[str, Field(examples=["ada@example.com"], max_length=254)]
    """
    The user's email address.
    An email address (RFC 5321 `Mailbox`, at most 254 characters); unicode is accepted.
    Quoted local parts, IP-literal domains and the special-use domains `.arpa`,
    `.invalid`, `.local`, `.localhost` and `.onion` are refused with
    `validation_failed`; `.test` is accepted for test suites.

    """
    password: Annotated[str, Field(examples=["correct horse battery staple"], max_length=72)]
    """
    As `LoginRequest.password`.
    """
    scope: str | None = None
    """
    Accepted for compatibility and ignored.
    """
    client_id: str | None = None
    """
    Accepted for compatibility and ignored.
    """
    client_secret: str | None = None
    """
    Accepted for compatibility and ignored.
    """


class Metadata(BaseModel):
    """
    Free-form JSON object. On signup it may be at most 8 KiB as JSON and nested at most
    8 levels deep.

    """

    model_config = ConfigDict(
        extra="allow",
    )


class User(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    id: Annotated[UUID, Field(examples=["0b6a1c1e-8f5e-4a0e-9a57-3c1f0e1d2b3c"])]
    email: Annotated[str, Field(examples=["ada@example.com"])]
    """
    The normalised email address (empty for phone-only Supabase users).
    """
    role: Annotated[str, Field(examples=["authenticated"])]
    aud: Annotated[str, Field(examples=["authenticated"])]
    email_confirmed_at: Annotated[AwareDatetime | None, Field(...)]
    created_at: Annotated[AwareDatetime | None, Field(...)]
    """
    Null when the user was read from a token, which does not carry it.
    """
    updated_at: Annotated[AwareDatetime | None, Field(...)]
    """
    Null when the user was read from a token, which does not carry it.
    """
    last_sign_in_at: Annotated[AwareDatetime | None, Field(...)]
    user_metadata: Metadata
    app_metadata: Metadata


class TokenResponse(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    access_token: str
    """
    A JWT to send as `Authorization: Bearer <access_token>`.
    """
    token_type: Literal["bearer"]
    expires_in: Annotated[int, Field(examples=[3600], ge=1)]
    """
    Seconds until the access token expires.
    """
    expires_at: Annotated[int, Field(examples=[1767225600])]
    """
    When the access token expires, in Unix seconds.
    """
    refresh_token: str
    """
    An opaque token; keep it secret.
    """
    user: User


class EmailRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    email: Annotated[str, Field(examples=["ada@example.com"], max_length=254)]
    """
    An email address (RFC 5321 `Mailbox`, at most 254 characters); unicode is accepted.
    Quoted local parts, IP-literal domains and the special-use domains `.arpa`,
    `.invalid`, `.local`, `.localhost` and `.onion` are refused with
    `validation_failed`; `.test` is accepted for test suites.

    """


class OneTimeCode(RootModel[str]):
    root: Annotated[
        str, Field(examples=["042917"], max_length=6, min_length=6, pattern="^[0-9]{6}$")
    ]
    """
    The 6-digit code from the mail.
    """


class LinkToken(RootModel[str]):
    root: Annotated[
        str,
        Field(
            examples=["3q2-7wE1xQm9Rk0pZ8vT4nL6bY5cH2jD1fG7sA0uWeI"],
            max_length=43,
            min_length=43,
            pattern="^[A-Za-z0-9_-]{43}$",
        ),
    ]
    """
    The token from the mail's link (after `#token=`): 256 random bits, base64url without
    padding.

    """


class NewPassword(RootModel[str]):
    root: Annotated[
        str, Field(examples=["a new correct horse battery"], max_length=72, min_length=8)
    ]
    """
    The new password, under the same rules as at signup: 8 to 72 characters, and after
    NFKC normalisation still at least 8 characters and at most 72 bytes of UTF-8, and not
    one of the 30,000 most common passwords; anything else is refused with
    `weak_password`.

    """


class RecoveryWithCode(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    email: Annotated[str, Field(examples=["ada@example.com"], max_length=254)]
    """
    An email address (RFC 5321 `Mailbox`, at most 254 characters); unicode is accepted.
    Quoted local parts, IP-literal domains and the special-use domains `.arpa`,
    `.invalid`, `.local`, `.localhost` and `.onion` are refused with
    `validation_failed`; `.test` is accepted for test suites.

    """
    code: OneTimeCode
    password: NewPassword


class RecoveryWithLink(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    token: LinkToken
    password: NewPassword


class RecoveryConfirmation(RootModel[RecoveryWithCode | RecoveryWithLink]):
    root: RecoveryWithCode | RecoveryWithLink
    """
    The code and its address, or the link's token; and the new password.
    """


class VerificationWithCode(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    email: Annotated[str, Field(examples=["ada@example.com"], max_length=254)]
    """
    An email address (RFC 5321 `Mailbox`, at most 254 characters); unicode is accepted.
    Quoted local parts, IP-literal domains and the special-use domains `.arpa`,
    `.invalid`, `.local`, `.localhost` and `.onion` are refused with
    `validation_failed`; `.test` is accepted for test suites.

    """
    code: OneTimeCode


class VerificationWithLink(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    token: LinkToken


class EmailVerification(RootModel[VerificationWithCode | VerificationWithLink]):
    root: VerificationWithCode | VerificationWithLink
    """
    The code and its address, or the link's token.
    """


class MailAccepted(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    message: Annotated[
        str, Field(examples=["If an account uses this address, a mail with a code is on its way."])
    ]
    """
    The same text for every address.
    """


class Health(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    status: Literal["ok"]


class Readiness(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    status: Literal["ready"]
    provider: Annotated[Literal["local", "supabase"], Field(examples=["local"])]
    """
    The identity provider this instance uses.
    """


class JsonWebKey(BaseModel):
    """
    A public JSON Web Key (RFC 7517); EC keys carry crv/x/y, RSA keys n/e.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    kty: Annotated[str, Field(examples=["EC"])]
    kid: str | None = None
    alg: Annotated[str | None, Field(examples=["ES256"])] = None
    use: Annotated[str | None, Field(examples=["sig"])] = None
    key_ops: list[str] | None = None
    crv: str | None = None
    x: str | None = None
    y: str | None = None
    n: str | None = None
    e: str | None = None


class FieldError(BaseModel):
    field: Annotated[str, Field(examples=["body.email"])]
    """
    Where the problem is, as a dotted path (`body.email`).
    """
    message: Annotated[str, Field(examples=["value is not a valid email address"])]


class ProblemCode(
    RootModel[
        Literal[
            "validation_failed",
            "weak_password",
            "invalid_code",
            "email_exists",
            "invalid_credentials",
            "invalid_token",
            "invalid_refresh_token",
            "email_not_confirmed",
            "user_banned",
            "forbidden",
            "not_found",
            "method_not_allowed",
            "payload_too_large",
            "unsupported_media_type",
            "rate_limited",
            "provider_error",
            "provider_unavailable",
            "provider_misconfigured",
            "not_supported_by_provider",
            "internal_error",
        ]
    ]
):
    root: Literal[
        "validation_failed",
        "weak_password",
        "invalid_code",
        "email_exists",
        "invalid_credentials",
        "invalid_token",
        "invalid_refresh_token",
        "email_not_confirmed",
        "user_banned",
        "forbidden",
        "not_found",
        "method_not_allowed",
        "payload_too_large",
        "unsupported_media_type",
        "rate_limited",
        "provider_error",
        "provider_unavailable",
        "provider_misconfigured",
        "not_supported_by_provider",
        "internal_error",
    ]
    """
    A stable, machine-readable code:
    `validation_failed` (400, the request does not match the contract),
    `weak_password` (400), `invalid_code` (400, a mailed code or link that is wrong,
    expired, used or superseded), `email_exists` (409), `invalid_credentials` (401),
    `invalid_token` (401), `invalid_refresh_token` (401), `email_not_confirmed` (403),
    `user_banned` (403),
    `forbidden` (403, an operational endpoint asked from outside the operators' networks),
    `not_found` (404), `method_not_allowed` (405), `payload_too_large` (413),
    `unsupported_media_type` (415), `rate_limited` (429, see `Retry-After`),
    `provider_error` (502, the identity provider failed),
    `provider_unavailable` (503, it could not be reached),
    `provider_misconfigured` (503, it rejected this service's own credentials),
    `not_supported_by_provider` (501, the configured identity provider does not offer
    this operation),
    `internal_error` (500, a bug of ours).

    """


class LogOutParametersQuery(BaseModel):
    scope: Literal["local", "global", "others"] = "local"


class SignUpRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
    )
    email: Annotated[str, Field(examples=["ada@example.com"], max_length=254)]
    """
    The user's email address; unique regardless of case.
    An email address (RFC 5321 `Mailbox`, at most 254 characters); unicode is accepted.
    Quoted local parts, IP-literal domains and the special-use domains `.arpa`,
    `.invalid`, `.local`, `.localhost` and `.onion` are refused with
    `validation_failed`; `.test` is accepted for test suites.

    """
    password: Annotated[
        str, Field(examples=["correct horse battery staple"], max_length=72, min_length=8)
    ]
    """
    8 to 72 characters, and after NFKC normalisation still at least 8 characters and
    at most 72 bytes of UTF-8, and not one of the 30,000 most common passwords;
    anything else is refused with `weak_password` (the lengths too, though the schema
    states them).

    """
    user_metadata: Metadata | None = None


class JsonWebKeySet(BaseModel):
    keys: list[JsonWebKey]


class Problem(BaseModel):
    """
    An RFC 9457 problem detail.
    """

    type: Annotated[str, Field(examples=["urn:auth-backend:problem:validation_failed"])]
    """
    A URI that identifies the problem type; one per `code`.
    """
    title: Annotated[str, Field(examples=["Request validation failed"])]
    """
    A short summary of the problem type.
    """
    status: Annotated[int, Field(examples=[400], ge=400, le=599)]
    detail: str
    """
    What went wrong with this request, for people.
    """
    code: ProblemCode
    request_id: str
    """
    The request's id, also in the `X-Request-ID` header.
    """
    errors: list[FieldError] | None = None
    """
    Field problems, for `validation_failed`.
    """
