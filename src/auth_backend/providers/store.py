"""The local provider's persistence: an async store on SQLite or PostgreSQL, and its schema
migrations."""

from __future__ import annotations

import re
from dataclasses import asdict, replace
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from auth_backend.domain import JsonObject, UserAccount
from auth_backend.errors import EmailExists, RefreshTokenReused
from auth_backend.providers import queries
from auth_backend.providers.database import Database
from auth_backend.providers.queries import StoredSigningKey, StoredUser, hash_refresh_token

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.ext.asyncio import AsyncEngine

# Any constant works; it only has to be the same for every replica that migrates.
_MIGRATION_LOCK_ID = 0x6175_7468  # "auth"
DEFAULT_ROLE = "authenticated"
DEFAULT_AUDIENCE = "authenticated"

__all__ = ["Store", "StoredSigningKey", "StoredUser", "hash_refresh_token", "migrate"]


_VERSIONS = Path(__file__).resolve().parents[1] / "migrations" / "versions"
_REVISION_LINE = re.compile(
    r'^(revision|down_revision)\s*(?::[^=\n]+)?=\s*(?:"([^"]+)"|\'([^\']+)\'|None)', re.MULTILINE
)


@cache
def head_revision() -> str | None:
    """The newest migration, read from the revision files without importing Alembic: the one
    revision that no other revises. None when that is not clear-cut; Alembic then decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in _VERSIONS.glob("*.py"):
        found = {
            match[1]: match[2] or match[3]
            for match in _REVISION_LINE.finditer(path.read_text(encoding="utf-8"))
        }
        if not found.get("revision"):
            continue  # not a revision file (__init__.py)
        revisions.add(found["revision"])
        if found.get("down_revision"):
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


_VERSION_NUMBERS = sa.text("SELECT version_num FROM alembic_version")


def _schema_versions(connection: Connection) -> list[str] | None:
    try:
        return list(connection.execute(_VERSION_NUMBERS).scalars())
    except sa.exc.DBAPIError:  # no version table: a new database
        return None


async def _at_head(database: Database) -> bool:
    head = head_revision()
    if head is None:
        return False
    return await database.read(_schema_versions) == [head]


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config  # noqa: PLC0415 (see migrate)

    config = Config()
    config.set_main_option("script_location", "auth_backend:migrations")
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Replicas starting together must not run the same migration twice.
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
    from alembic import command  # noqa: PLC0415 (see migrate)

    command.upgrade(_alembic_config(connection), "head")


async def migrate(database: Database) -> None:
    """Bring the schema to the latest revision; safe when several processes start at once.

    A restart finds the schema current: one query says so, and Alembic (about a quarter of
    the service's start-up in imports alone, bench/RESULTS.md) is neither imported nor run.
    """
    if await _at_head(database):
        return
    await database.write_exclusive(_upgrade)


class Store:
    """The local provider's persistence, as async operations; each runs as one unit of work
    (one transaction, one hop) on the `Database`, with the SQL in providers/queries.py."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @property
    def engine(self) -> AsyncEngine:
        return self.database.engine

    async def create_user(
        self, *, email: str, password_hash: str, user_metadata: JsonObject, now: datetime
    ) -> UserAccount:
        account = UserAccount(
            id=uuid4(),
            email=email,
            role=DEFAULT_ROLE,
            aud=DEFAULT_AUDIENCE,
            # The local provider sends no mail, so there is nothing to confirm with.
            email_confirmed_at=now,
            created_at=now,
            updated_at=now,
            last_sign_in_at=None,
            user_metadata=user_metadata,
            app_metadata={"provider": "email", "providers": ["email"]},
        )
        try:
            await self.database.write(
                queries.insert_user, {"password_hash": password_hash, **asdict(account)}
            )
        except IntegrityError:
            raise EmailExists() from None
        return account

    async def find_user_by_email(self, email: str) -> StoredUser | None:
        return await self.database.read(queries.find_user_by_email, email)

    async def start_session(
        self,
        *,
        user: UserAccount,
        refresh_token: str,
        now: datetime,
        ip: str | None,
        user_agent: str | None,
        upgraded_password_hash: str | None,
    ) -> tuple[UUID, UserAccount]:
        """Record a successful sign-in: a new session, its first refresh token, the login time."""
        sign_in = queries.SignIn(
            user_id=user.id,
            refresh_token_hash=hash_refresh_token(refresh_token),
            now=now,
            ip=ip,
            user_agent=user_agent,
            upgraded_password_hash=upgraded_password_hash,
        )
        session_id = await self.database.write(queries.start_session, sign_in)
        return session_id, replace(user, updated_at=now, last_sign_in_at=now)

    async def rotate_refresh_token(
        self, *, presented: str, replacement: str, now: datetime
    ) -> tuple[UUID, UserAccount]:
        """Swap a live refresh token for a new one in the same session (see
        queries.rotate_refresh_token); reuse ends the session and raises RefreshTokenReused."""
        rotated = await self.database.write(
            queries.rotate_refresh_token,
            hash_refresh_token(presented),
            hash_refresh_token(replacement),
            now,
        )
        if rotated.user is None:
            raise RefreshTokenReused()
        return rotated.session_id, rotated.user

    async def end_sessions(
        self, *, user_id: UUID, current_session: UUID, scope: str, now: datetime
    ) -> list[UUID]:
        """Revoke the current session (local), all of the user's (global) or all but it
        (others); returns the sessions revoked."""
        return await self.database.write(queries.end_sessions, user_id, current_session, scope, now)

    async def sessions_revoked_since(self, since: datetime) -> list[tuple[UUID, datetime]]:
        return await self.database.read(queries.sessions_revoked_since, since)

    async def signing_keys(self) -> list[StoredSigningKey]:
        """Every key still valid for verification, oldest first."""
        return await self.database.read(queries.valid_signing_keys)

    async def add_signing_key(
        self,
        *,
        kid: str,
        algorithm: str,
        private_jwk: dict[str, Any],
        public_jwk: dict[str, Any],
        now: datetime,
        only_if_none: bool = False,
    ) -> None:
        """Store a signing key; with `only_if_none`, only when no valid key exists yet (under
        an exclusive lock, see queries.add_signing_key)."""
        values = {
            "kid": kid,
            "algorithm": algorithm,
            "private_jwk": private_jwk,
            "public_jwk": public_jwk,
            "created_at": now,
        }
        await self.database.write_exclusive(queries.add_signing_key, values, only_if_none)

    async def ping(self) -> None:
        await self.database.read(queries.ping)

    async def dispose(self) -> None:
        """Close the pooled connections; new ones open when next needed."""
        await self.database.dispose()

    async def aclose(self) -> None:
        await self.database.aclose()
