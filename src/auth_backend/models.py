"""The wire models of the contract, for the rest of the package to import.

Everything here is generated from `openapi/openapi.yaml` into `_generated_models.py`; this
module only re-exports it so that callers never import the generated file directly and a
regeneration cannot silently change an import path.
"""

from auth_backend._generated_models import (
    EmailRequest,
    EmailVerification,
    FieldError,
    Health,
    JsonWebKey,
    JsonWebKeySet,
    LinkToken,
    LoginRequest,
    LogOutParametersQuery,
    MailAccepted,
    Metadata,
    NewPassword,
    OneTimeCode,
    PasswordGrantForm,
    Problem,
    ProblemCode,
    Readiness,
    RecoveryConfirmation,
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
    "EmailVerification",
    "FieldError",
    "Health",
    "JsonWebKey",
    "JsonWebKeySet",
    "LinkToken",
    "LogOutParametersQuery",
    "LoginRequest",
    "MailAccepted",
    "Metadata",
    "NewPassword",
    "OneTimeCode",
    "PasswordGrantForm",
    "Problem",
    "ProblemCode",
    "Readiness",
    "RecoveryConfirmation",
    "RecoveryWithCode",
    "RecoveryWithLink",
    "RefreshRequest",
    "SignUpRequest",
    "TokenResponse",
    "User",
    "VerificationWithCode",
    "VerificationWithLink",
]
