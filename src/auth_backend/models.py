"""The wire models of the contract, for the rest of the package to import.

Everything here is generated from `openapi/openapi.yaml` into `_generated_models.py`; this
module only re-exports it so that callers never import the generated file directly and a
regeneration cannot silently change an import path.
"""

from auth_backend._generated_models import (
    EmailRequest,
    FieldError,
    Health,
    JsonWebKey,
    JsonWebKeySet,
    LoginRequest,
    LogOutParametersQuery,
    MailAccepted,
    Metadata,
    PasswordGrantForm,
    Problem,
    ProblemCode,
    Readiness,
    RecoveryWithCode,
    RecoveryWithLink,
    RefreshRequest,
    SignUpRequest,
    TokenResponse,
    User,
    VerificationWithCode,
    VerificationWithLink,
)

__all__ = [
    "EmailRequest",
    "FieldError",
    "Health",
    "JsonWebKey",
    "JsonWebKeySet",
    "LogOutParametersQuery",
    "LoginRequest",
    "MailAccepted",
    "Metadata",
    "PasswordGrantForm",
    "Problem",
    "ProblemCode",
    "Readiness",
    "RecoveryWithCode",
    "RecoveryWithLink",
    "RefreshRequest",
    "SignUpRequest",
    "TokenResponse",
    "User",
    "VerificationWithCode",
    "VerificationWithLink",
]
