"""The signing keys: stored in the database, shared by every replica, held here in memory.

Each replica signs with the oldest key that is not retired, and verifies with every key that is
not retired or still within its overlap. A retired key (`retired_at` set) stops signing at once
and verifies only the tokens it may have signed: until `retired_at + ACCESS_TOKEN_TTL +
CLOCK_LEEWAY_SECONDS`, the longest any of them can live; then its tokens are refused and it
leaves the JWKS.

Every replica learns of a changed key set within about a second: the poll of ended sessions
(revocations.py) also runs `refresh`, one query over a few narrow rows, which re-reads the
keys only when their ids or retirement times changed. A token naming a key id this replica has
not seen makes it re-read the keys at once (another replica may have added one), at most once
per `KEY_RELOAD_INTERVAL_SECONDS`, so forged kids cannot turn into database load.

With no key left to sign, logins and refreshes answer 503 and /ready says why; tokens of keys
in their overlap keep verifying.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from joserfc.jwk import ECKey, GuestProtocol, Key
from sqlalchemy.engine import Connection

from auth_backend.errors import InvalidToken, ProviderMisconfigured
from auth_backend.security.tokens import (
    CLOCK_LEEWAY_SECONDS,
    LOCAL_SIGNING_ALGORITHM,
    AccessTokenIssuer,
    UnknownKeyId,
    generate_signing_key,
    public_jwk,
)
from auth_backend.store.database import Database
from auth_backend.store.schema import signing_keys

logger = logging.getLogger(__name__)

KEY_RELOAD_INTERVAL_SECONDS = 10.0
# Any constant works; it only has to be the same for every replica.
_KEYS_LOCK_ID = 0x6B65_7973  # "keys"


NO_SIGNING_KEY_DETAIL = "No token signing key can sign: every signing key is retired."


@dataclass(frozen=True, slots=True)
class StoredSigningKey:
    kid: str
    algorithm: str
    private_jwk: dict[str, Any]
    created_at: datetime
    retired_at: datetime | None = None


# What identifies the key set: a key added, removed, retired or un-retired changes it.
KeySetFingerprint = tuple[tuple[str, datetime | None], ...]

_ADVISORY_LOCK = sa.text("SELECT pg_advisory_xact_lock(:id)")
_INSERT_SIGNING_KEY = signing_keys.insert()
_IN_USE = sa.or_(
    signing_keys.c.retired_at.is_(None), signing_keys.c.retired_at > sa.bindparam("cutoff")
)
_SIGNING_KEYS_IN_USE = (
    sa.select(signing_keys).where(_IN_USE).order_by(signing_keys.c.created_at, signing_keys.c.kid)
)
_KEY_SET_FINGERPRINT = (
    sa.select(signing_keys.c.kid, signing_keys.c.retired_at)
    .where(_IN_USE)
    .order_by(signing_keys.c.kid)
)
_ANY_VALID_SIGNING_KEY = (
    sa.select(signing_keys.c.kid).where(signing_keys.c.retired_at.is_(None)).limit(1)
)


def _signing_keys_in_use(connection: Connection, cutoff: datetime) -> list[StoredSigningKey]:
    """Every key that signs or still verifies (retired after `cutoff`), oldest first."""
    return [
        StoredSigningKey(
            kid=row.kid,
            algorithm=row.algorithm,
            private_jwk=dict(row.private_jwk),
            created_at=row.created_at,
            retired_at=row.retired_at,
        )
        for row in connection.execute(_SIGNING_KEYS_IN_USE, {"cutoff": cutoff})
    ]


def _key_set_fingerprint(connection: Connection, cutoff: datetime) -> KeySetFingerprint:
    rows = connection.execute(_KEY_SET_FINGERPRINT, {"cutoff": cutoff})
    return tuple((row.kid, row.retired_at) for row in rows)


def _fingerprint_of(stored: list[StoredSigningKey]) -> KeySetFingerprint:
    return tuple(sorted((row.kid, row.retired_at) for row in stored))


def _add_first_signing_key(connection: Connection, values: dict[str, Any]) -> None:
    """Store a signing key, only when no valid key exists yet.

    Run under an exclusive lock (BEGIN IMMEDIATE on SQLite, an advisory lock here on
    PostgreSQL), so replicas starting together store exactly one first key: otherwise one
    could sign with a key that another, which read the table a moment earlier, does not know.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(_ADVISORY_LOCK, {"id": _KEYS_LOCK_ID})
    if connection.execute(_ANY_VALID_SIGNING_KEY).first() is not None:
        return
    connection.execute(_INSERT_SIGNING_KEY, values)


def stored_key_values(key: ECKey) -> dict[str, Any]:
    """The `signing_keys` row of a new key, as every writer of that table stores it."""
    return {
        "kid": key.kid or "",
        "algorithm": LOCAL_SIGNING_ALGORITHM,
        "private_jwk": key.as_dict(private=True),
        "public_jwk": public_jwk(key),
        "created_at": datetime.now(UTC),
    }


class SigningKeys:
    """This replica's key ring: signs with the oldest key not retired, verifies with every key
    not retired or within its overlap."""

    def __init__(
        self, database: Database, *, issuer: str, ttl: int, on_change: Callable[[], None]
    ) -> None:
        self._database = database
        self._issuer_name = issuer
        self._ttl = ttl
        # How long a retired key keeps verifying: the longest a token it signed can be valid.
        self._overlap = timedelta(seconds=ttl + CLOCK_LEEWAY_SECONDS)
        # Called whenever the keys are replaced: what was verified with the old ones is void.
        self._on_change = on_change
        self._keys: dict[str, ECKey] = {}
        self._signer_kid: str | None = None
        # Per kid, the Unix time from which its tokens are refused (inf: not retired).
        self._verify_until: dict[str, float] = {}
        # The first of those times still ahead: when cached verifications must be voided.
        self._next_overlap_end = math.inf
        self._fingerprint: KeySetFingerprint | None = None
        self._issuer: AccessTokenIssuer | None = None
        self._loaded_at = 0.0

    @property
    def issuer(self) -> AccessTokenIssuer:
        if self._fingerprint is None:
            raise RuntimeError("SigningKeys.load_or_create() has not run")
        if self._issuer is None:
            raise ProviderMisconfigured(NO_SIGNING_KEY_DETAIL)
        return self._issuer

    def ensure_can_sign(self) -> None:
        """Raise ProviderMisconfigured (503) when no key can sign: every key is retired."""
        _ = self.issuer

    def resolve(self, guest: GuestProtocol) -> Key:
        """The key that verifies this token, per its `kid`; a retired key past its overlap
        verifies nothing, whether or not this replica has re-read the keys since."""
        kid = guest.headers().get("kid")
        if not isinstance(kid, str) or kid not in self._keys:
            raise UnknownKeyId("The access token was signed with an unknown key.")
        if time.time() >= self._verify_until[kid]:
            raise InvalidToken("The access token was signed with a retired key.")
        return self._keys[kid]

    def end_due_overlaps(self) -> None:
        """Void the cached verifications once a retired key's overlap is over: the cache
        (security/token_cache.py) would otherwise answer for its tokens until their `exp`.
        One comparison while no overlap ends, so it runs on every verification."""
        now = time.time()
        if now < self._next_overlap_end:
            return
        self._next_overlap_end = min(
            (until for until in self._verify_until.values() if until > now), default=math.inf
        )
        self._on_change()

    def public_jwks(self) -> dict[str, Any]:
        now = time.time()
        return {
            "keys": [
                public_jwk(key)
                for kid, key in self._keys.items()
                if self._verify_until.get(kid, math.inf) > now
            ]
        }

    def _cutoff(self) -> datetime:
        return datetime.now(UTC) - self._overlap

    async def load_or_create(self) -> None:
        stored = await self._database.read(_signing_keys_in_use, self._cutoff())
        if not any(row.retired_at is None for row in stored):
            key = generate_signing_key()
            values = stored_key_values(key)
            await self._database.write_exclusive(_add_first_signing_key, values)
            # Re-read rather than use our key: a replica starting at the same moment may have
            # stored the first key instead, and every replica must use that one.
            stored = await self._database.read(_signing_keys_in_use, self._cutoff())
            if any(row.kid == key.kid for row in stored):
                logger.info("generated a new token signing key", extra={"kid": key.kid})
        self._install(stored)

    async def refresh(self) -> bool:
        """Re-read the keys if the stored set changed (one cheap query otherwise); whether it
        did. Run by the poll of ended sessions, about once a second."""
        cutoff = self._cutoff()
        fingerprint = await self._database.read(_key_set_fingerprint, cutoff)
        if fingerprint == self._fingerprint:
            return False
        self._install(await self._database.read(_signing_keys_in_use, cutoff))
        return True

    async def reload_if_due(self) -> bool:
        """Re-read the keys unless that was done recently; whether the set of keys changed."""
        if time.monotonic() - self._loaded_at < KEY_RELOAD_INTERVAL_SECONDS:
            return False
        stored = await self._database.read(_signing_keys_in_use, self._cutoff())
        before = set(self._keys)
        self._install(stored)
        return set(self._keys) != before

    def _install(self, stored: list[StoredSigningKey]) -> None:
        self._on_change()
        signer = next((row.kid for row in stored if row.retired_at is None), None)
        self._keys.clear()
        self._keys.update({row.kid: ECKey.import_key(row.private_jwk) for row in stored})
        self._verify_until = {
            row.kid: math.inf
            if row.retired_at is None
            else (row.retired_at + self._overlap).timestamp()
            for row in stored
        }
        self._next_overlap_end = min(self._verify_until.values(), default=math.inf)
        self._issuer = (
            AccessTokenIssuer(self._keys[signer], self._issuer_name, self._ttl)
            if signer is not None
            else None
        )
        if signer != self._signer_kid:
            if signer is None:
                logger.error("no token signing key can sign: every signing key is retired")
            else:
                logger.info("signing tokens with key %s", signer, extra={"kid": signer})
        self._signer_kid = signer
        self._fingerprint = _fingerprint_of(stored)
        self._loaded_at = time.monotonic()
