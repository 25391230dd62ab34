"""The wire models of the contract, for the rest of the package to import.

Everything here is generated from `openapi/openapi.yaml` into `_generated_models.py`; this
module only re-exports it so that callers never import the generated file directly and a
regeneration cannot silently change an import path.
"""

from auth_backend._generated_models import (
    FieldError,
    Health,
    JsonWebKey,
    JsonWebKeySet,
    LoginRequest,
    LogOutParametersQuery,
    Metadata,
    PasswordGrantForm,
    Problem,
    ProblemCode,
    Readiness,
    RefreshRequest,
    SignUpRequest,
    TokenResponse,
    User,
)

__all__ = [
    "FieldError",
    "Health",
    "JsonWebKey",
    "JsonWebKeySet",
    "LogOutParametersQuery",
    "LoginRequest",
    "Metadata",
    "PasswordGrantForm",
    "Problem",
    "ProblemCode",
    "Readiness",
    "RefreshRequest",
    "SignUpRequest",
    "TokenResponse",
    "User",
]
