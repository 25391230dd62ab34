"""The signing keys: stored in the database, shared by every replica, held here in memory.

Each replica signs with the oldest valid key and verifies with all of them. A token naming a
key id this replica has not seen makes it re-read the keys (another replica may have added
one), at most once per `KEY_RELOAD_INTERVAL_SECONDS`, so forged kids cannot turn into
database load.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from joserfc.jwk import ECKey, Key
from sqlalchemy.engine import Connection

from auth_backend.providers.local.database import Database
from auth_backend.providers.local.schema import signing_keys
from auth_backend.security.tokens import (
    LOCAL_SIGNING_ALGORITHM,
    AccessTokenIssuer,
    KeyResolver,
    generate_signing_key,
    public_jwk,
    resolver_for,
)

logger = logging.getLogger(__name__)

KEY_RELOAD_INTERVAL_SECONDS = 10.0
# Any constant works; it only has to be the same for every replica.
_KEYS_LOCK_ID = 0x6B65_7973  # "keys"


@dataclass(frozen=True, slots=True)
class StoredSigningKey:
    kid: str
    algorithm: str
    private_jwk: dict[str, Any]
    created_at: datetime


_ADVISORY_LOCK = sa.text("SELECT pg_advisory_xact_lock(:id)")
_INSERT_SIGNING_KEY = signing_keys.insert()
_VALID_SIGNING_KEYS = (
    sa.select(signing_keys)
    .where(signing_keys.c.retired_at.is_(None))
    .order_by(signing_keys.c.created_at, signing_keys.c.kid)
)
_ANY_VALID_SIGNING_KEY = (
    sa.select(signing_keys.c.kid).where(signing_keys.c.retired_at.is_(None)).limit(1)
)


def _valid_signing_keys(connection: Connection) -> list[StoredSigningKey]:
    """Every key still valid for verification, oldest first."""
    return [
        StoredSigningKey(
            kid=row.kid,
            algorithm=row.algorithm,
            private_jwk=dict(row.private_jwk),
            created_at=row.created_at,
        )
        for row in connection.execute(_VALID_SIGNING_KEYS)
    ]


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


class SigningKeys:
    """This replica's key ring: signs with the oldest valid key, verifies with all."""

    def __init__(
        self, database: Database, *, issuer: str, ttl: int, on_change: Callable[[], None]
    ) -> None:
        self._database = database
        self._issuer_name = issuer
        self._ttl = ttl
        # Called whenever the keys are replaced: what was verified with the old ones is void.
        self._on_change = on_change
        self._keys: dict[str, Key] = {}
        self.resolve: KeyResolver = resolver_for(self._keys)
        self._issuer: AccessTokenIssuer | None = None
        self._loaded_at = 0.0

    @property
    def issuer(self) -> AccessTokenIssuer:
        if self._issuer is None:
            raise RuntimeError("SigningKeys.load_or_create() has not run")
        return self._issuer

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(key) for key in self._keys.values()]}

    async def load_or_create(self) -> None:
        stored = await self._database.read(_valid_signing_keys)
        if not stored:
            key = generate_signing_key()
            values = {
                "kid": key.kid or "",
                "algorithm": LOCAL_SIGNING_ALGORITHM,
                "private_jwk": key.as_dict(private=True),
                "public_jwk": public_jwk(key),
                "created_at": datetime.now(UTC),
            }
            await self._database.write_exclusive(_add_first_signing_key, values)
            # Re-read rather than use our key: a replica starting at the same moment may have
            # stored the first key instead, and every replica must use that one.
            stored = await self._database.read(_valid_signing_keys)
            if any(row.kid == key.kid for row in stored):
                logger.info("generated a new token signing key", extra={"kid": key.kid})
        self._install([ECKey.import_key(row.private_jwk) for row in stored])

    async def reload_if_due(self) -> bool:
        """Re-read the keys unless that was done recently; whether the set of keys changed."""
        if time.monotonic() - self._loaded_at < KEY_RELOAD_INTERVAL_SECONDS:
            return False
        stored = await self._database.read(_valid_signing_keys)
        before = set(self._keys)
        self._install([ECKey.import_key(row.private_jwk) for row in stored])
        return set(self._keys) != before

    def _install(self, keys: list[ECKey]) -> None:
        self._on_change()
        self._keys.clear()
        self._keys.update({key.kid or "": key for key in keys})
        self._issuer = AccessTokenIssuer(keys[0], self._issuer_name, self._ttl)
        self._loaded_at = time.monotonic()
