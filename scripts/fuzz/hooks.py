"""Schemathesis hooks for the contract fuzzer (loaded through schemathesis.toml)."""

from __future__ import annotations

import unicodedata
from typing import Any

import schemathesis

from auth_backend.security.passwords import common_passwords

# The password rule as the contract states it (SignUpRequest.password).
MIN_PASSWORD_CHARACTERS = 8
MAX_PASSWORD_BYTES = 72


def _violates_password_rule(password: object) -> bool:
    if not isinstance(password, str):
        return False
    normalized = unicodedata.normalize("NFKC", password)
    too_short = len(normalized) < MIN_PASSWORD_CHARACTERS
    too_long = len(normalized.encode("utf-8")) > MAX_PASSWORD_BYTES
    return too_short or too_long or normalized.casefold() in common_passwords()


@schemathesis.check
def valid_signup_is_refused_only_for_its_password(ctx: Any, response: Any, case: Any) -> None:
    """A schema-valid signUp answered 400 must be `weak_password`, for a password that breaks
    the contract's rule; schemathesis.toml lets 400 through positive_data_acceptance for
    signUp on that condition only."""
    meta = case.meta
    if case.operation.label != "POST /signup" or meta is None:
        return
    if not meta.generation.mode.is_positive or response.status_code != 400:
        return
    problem = response.json()
    code = problem.get("code") if isinstance(problem, dict) else None
    if code != "weak_password":
        raise AssertionError(f"a schema-valid signUp was refused with 400 {code!r}: {problem}")
    password = case.body.get("password") if isinstance(case.body, dict) else None
    if not _violates_password_rule(password):
        raise AssertionError("weak_password for a password that the contract's rule accepts")


# Schema-valid codes and tokens that no mail ever carried: the contract answers them 400
# `invalid_code` (and confirmRecovery a password that breaks the rule 400 `weak_password`).
_MAILED_CODE_OPERATIONS = {"POST /recover/confirm", "POST /verify-email"}


@schemathesis.check
def valid_code_is_refused_only_as_invalid(ctx: Any, response: Any, case: Any) -> None:
    """A schema-valid confirmRecovery or verifyEmail answered 400 must be `invalid_code` (a
    code or link the fuzzer made up), or for confirmRecovery `weak_password` for a password
    that breaks the contract's rule; schemathesis.toml lets 400 through
    positive_data_acceptance for these two operations on that condition only."""
    meta = case.meta
    if case.operation.label not in _MAILED_CODE_OPERATIONS or meta is None:
        return
    if not meta.generation.mode.is_positive or response.status_code != 400:
        return
    problem = response.json()
    code = problem.get("code") if isinstance(problem, dict) else None
    if code == "invalid_code":
        return
    password = case.body.get("password") if isinstance(case.body, dict) else None
    if code == "weak_password" and case.operation.label == "POST /recover/confirm":
        if _violates_password_rule(password):
            return
        raise AssertionError("weak_password for a password that the contract's rule accepts")
    raise AssertionError(f"a schema-valid {case.operation.label} was refused with 400 {code!r}")
