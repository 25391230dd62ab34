"""Password policy and hashing.

Hashing is deliberately slow, so it runs on a small thread pool sized to the machine: the
event loop keeps serving while hashes are computed, and a login storm queues instead of
oversubscribing the CPU (argon2-cffi releases the GIL while it works).
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import secrets
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeVar

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

from auth_backend.errors import WeakPassword
from auth_backend.threads import run_in_thread

_R = TypeVar("_R")

MIN_PASSWORD_CHARACTERS = 8
# Supabase hashes with bcrypt, which cannot use more than 72 bytes; refusing longer passwords
# on both providers keeps them interchangeable and never truncates a password silently.
MAX_PASSWORD_BYTES = 72

# OWASP Password Storage Cheat Sheet, Argon2id: five configurations it rates as equally
# strong, trading memory for passes (memory in MiB: passes), all with p=1. 19 MiB and 2 passes
# is the default; less memory suits small containers and hashes faster where two concurrent
# hashes would otherwise overflow the CPU cache (bench/RESULTS.md), at the price of less
# memory-hardness per guess, so it is the operator's choice (ARGON2_MEMORY_MIB).
OWASP_ARGON2_PASSES_BY_MEMORY_MIB: dict[int, int] = {46: 1, 19: 2, 12: 3, 9: 4, 7: 5}
DEFAULT_ARGON2_MEMORY_MIB = 19
OWASP_ARGON2_PARALLELISM = 1


def normalize_password(password: str) -> str:
    """NFKC, so that the same password typed on different keyboards hashes the same."""
    return unicodedata.normalize("NFKC", password)


@cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of zxcvbn's list (from leaked password corpora)."""
    return frozenset(password.casefold() for password in _zxcvbn_passwords())


# The list is one string literal (escapes included) that the module splits on commas.
_PASSWORDS_LIST = re.compile(r'"passwords":\s*("(?:[^"\\]|\\.)*")')


def _zxcvbn_passwords() -> list[str]:
    # Importing zxcvbn builds ranked dictionaries of all six of its word lists (about 14 MB
    # of a service that uses one list; bench/RESULTS.md), so the password list is read from
    # the data file as text. Any surprise there falls back to the import.
    try:
        source = importlib.metadata.distribution("zxcvbn").locate_file("zxcvbn/frequency_lists.py")
        match = _PASSWORDS_LIST.search(Path(str(source)).read_text(encoding="utf-8"))
        if match is not None:
            literal = ast.literal_eval(match[1])
            if isinstance(literal, str):
                return literal.split(",")
    except (importlib.metadata.PackageNotFoundError, OSError, ValueError, SyntaxError):
        pass
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # noqa: PLC0415

    passwords: list[str] = FREQUENCY_LISTS["passwords"]
    return passwords


TOO_SHORT = f"Password must be at least {MIN_PASSWORD_CHARACTERS} characters long."
TOO_LONG = f"Password must be at most {MAX_PASSWORD_BYTES} bytes long in UTF-8."


def check_password_policy(password: str) -> None:
    """Raise WeakPassword saying why, for an already normalised password."""
    if len(password) < MIN_PASSWORD_CHARACTERS:
        raise WeakPassword(TOO_SHORT)
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise WeakPassword(TOO_LONG)
    if password.casefold() in common_passwords():
        raise WeakPassword("This password is one of the most commonly used; choose another.")


@dataclass(frozen=True, slots=True)
class VerifyResult:
    valid: bool
    # A new hash when the stored one uses outdated parameters or algorithm; store it.
    upgraded_hash: str | None = None


class PasswordHasher:
    """Argon2id for new hashes; bcrypt hashes (as exported from Supabase) still verify."""

    def __init__(
        self, workers: int | None = None, memory_mib: int = DEFAULT_ARGON2_MEMORY_MIB
    ) -> None:
        if memory_mib not in OWASP_ARGON2_PASSES_BY_MEMORY_MIB:
            raise ValueError(f"not an OWASP Argon2id configuration: {memory_mib} MiB")
        self._hash = PasswordHash(
            (
                # Hashes made with other parameters still verify, and are replaced by one
                # made with these at their next successful login (verify_and_update).
                Argon2Hasher(
                    time_cost=OWASP_ARGON2_PASSES_BY_MEMORY_MIB[memory_mib],
                    memory_cost=memory_mib * 1024,
                    parallelism=OWASP_ARGON2_PARALLELISM,
                ),
                BcryptHasher(),
            )
        )
        self._pool = ThreadPoolExecutor(
            max_workers=workers or os.cpu_count() or 1, thread_name_prefix="password-hash"
        )
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await self._run(self._hash.hash, password)

    async def verify(self, password: str, stored_hash: str) -> VerifyResult:
        return await self._run(self._verify_sync, password, stored_hash)

    async def verify_dummy(self, password: str) -> None:
        """Spend the same time as a real verification, for accounts that do not exist."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(16))
        await self.verify(password, self._dummy_hash)

    async def warm_up(self) -> None:
        await self.verify_dummy("warm-up")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _verify_sync(self, password: str, stored_hash: str) -> VerifyResult:
        try:
            valid, upgraded = self._hash.verify_and_update(password, stored_hash)
        except ValueError:
            # bcrypt refuses passwords over 72 bytes; such a password cannot match.
            return VerifyResult(valid=False)
        return VerifyResult(valid=valid, upgraded_hash=upgraded if valid else None)

    async def _run(self, func: Callable[..., _R], *args: str) -> _R:
        return await run_in_thread(self._pool, func, *args)
