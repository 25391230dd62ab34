"""Normalising what callers send, once, so that both providers see the same email address and
password for the same person, and store only bounded metadata."""

from __future__ import annotations

import json

from email_validator import EmailNotValidError, validate_email

from auth_backend.domain import Credentials, JsonObject, NewAccount
from auth_backend.errors import FieldProblem, ValidationFailed
from auth_backend.security.passwords import check_password_policy, normalize_password


def normalize_email(email: str, field: str = "body.email") -> str:
    """The address, syntax-checked and normalised; ValidationFailed naming `field` if invalid.

    Syntax only, no DNS: the contract's `format: email` (an RFC 5321 dot-atom address of at
    most 254 characters). `test_environment` admits the reserved `.test` domain, which client
    test suites and contract fuzzers use and Supabase accepts; the other special-use names
    (.arpa, .invalid, .local, .localhost, .onion) stay refused, as the contract says.
    """
    try:
        parsed = validate_email(email.strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError as error:
        raise ValidationFailed(
            errors=[
                FieldProblem(field=field, message=f"value is not a valid email address: {error}")
            ]
        ) from None
    # Addresses are unique regardless of case, as in Supabase, which lower-cases them.
    return parsed.normalized.lower()


MAX_METADATA_BYTES = 8 * 1024
MAX_METADATA_DEPTH = 8


def check_metadata(metadata: JsonObject) -> None:
    """Bound what a caller can make us store and put into every token."""
    try:
        # RFC 8259 has no NaN or Infinity; the parser admits them (1e999 becomes infinity),
        # but tokens carrying them would not be JSON, and PostgreSQL's JSON refuses them.
        size = len(json.dumps(metadata, separators=(",", ":"), allow_nan=False))
    except ValueError:
        message = "numbers must be finite (no NaN, Infinity or out-of-range values)"
    else:
        if size > MAX_METADATA_BYTES:
            message = f"must be at most {MAX_METADATA_BYTES} bytes as JSON"
        elif _depth(metadata) > MAX_METADATA_DEPTH:
            message = f"must be nested at most {MAX_METADATA_DEPTH} levels deep"
        else:
            return
    raise ValidationFailed(errors=[FieldProblem(field="body.user_metadata", message=message)])


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def new_account(
    email: str, password: str, user_metadata: JsonObject | None, *, email_confirmed: bool = True
) -> NewAccount:
    if user_metadata:
        check_metadata(user_metadata)
    normalized_email = normalize_email(email)
    normalized = normalize_password(password)
    check_password_policy(normalized)
    return NewAccount(
        email=normalized_email,
        password=normalized,
        user_metadata=user_metadata or {},
        email_confirmed=email_confirmed,
    )


def credentials(email: str, password: str, email_field: str = "body.email") -> Credentials:
    return Credentials(
        email=normalize_email(email, email_field), password=normalize_password(password)
    )


def credentials_for(normalized_email: str, password: str) -> Credentials:
    """Credentials with an address `normalize_email` already returned: the login flow
    normalises the address before its per-account limits and the password only after."""
    return Credentials(email=normalized_email, password=normalize_password(password))
