"""Password hashing and GoTrue's password-policy warning (reference §3.1, §3.2, §6)."""

from __future__ import annotations

import secrets
import string
from typing import Any

from pwdlib import PasswordHash
from pwdlib.exceptions import PwdlibError
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

from ..errors import ApiError, Panic, WeakPasswordError

# Low bcrypt cost keeps the double fast; the hash is never exposed, so the cost is invisible.
_HASHER = PasswordHash((BcryptHasher(rounds=4), Argon2Hasher()))
_ALPHABET = string.ascii_letters + string.digits


def hash_password(password: str) -> str:
    try:
        return _HASHER.hash(password)
    except ValueError as exc:
        # Reference §3.1: over 72 bytes bcrypt fails and GoTrue's hashing helper panics, so the
        # answer is probably a 500 (inferred in the reference).
        raise Panic() from exc


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _HASHER.verify(password, password_hash)
    except (PwdlibError, ValueError):
        return False


def random_password() -> str:
    """Reference §3.1: a missing or empty password becomes a random 64-character one."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(64))


def weak_password_warning(password: str, min_length: int) -> dict[str, Any] | None:
    """Reference §3.2 `weak_password` / §6: on sign-in, a correct password that fails the
    policy is only reported in the success body. Only the length rule is modelled (the
    required-characters and HIBP rules are off by default)."""
    if len(password) >= min_length:
        return None
    return {
        "message": f"Password should be at least {min_length} characters.",
        "reasons": ["length"],
    }


def check_password_strength(password: str, min_length: int) -> None:
    """Reference §6 / part 2 §4 #2: the policy of signup, user update and admin update. Over
    72 bytes is 400 `validation_failed`; too short (including "") is 422 `weak_password` with
    reason `length` (required characters and HIBP are off by default, so not modelled)."""
    if len(password.encode()) > 72:
        raise ApiError(400, "validation_failed", "Password cannot be longer than 72 characters")
    if len(password) < min_length:
        message = f"Password should be at least {min_length} characters."
        raise WeakPasswordError(message, ["length"])
