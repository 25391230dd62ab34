"""The contract states a new password's length bounds in its schema and answers them, like the
rest of the password policy, with `weak_password` rather than `validation_failed`."""

from __future__ import annotations

from auth_backend.errors import ValidationFailed, WeakPassword
from auth_backend.security.passwords import TOO_LONG, TOO_SHORT

_LENGTH_REASONS = {
    ("body.password", "string_too_short"): TOO_SHORT,
    ("body.password", "string_too_long"): TOO_LONG,
}


def weak_password_instead(failed: ValidationFailed) -> WeakPassword | None:
    """The weak_password answer for a body refused for its password's length alone."""
    reasons = [_LENGTH_REASONS.get((error.field, error.kind or "")) for error in failed.errors]
    if not (reasons and all(reasons)):
        return None
    return WeakPassword(reasons[0])
