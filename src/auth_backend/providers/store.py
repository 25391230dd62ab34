"""The local provider's persistence: an async SQLAlchemy store on SQLite or PostgreSQL."""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from auth_backend.domain import JsonObject, UserAccount
from auth_backend.errors import EmailExists, InvalidRefreshToken, RefreshTokenReused
from auth_backend.providers.schema import refresh_tokens, sessions, signing_keys, users

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every replica that migrates.
_MIGRATION_LOCK_ID = 0x6175_7468  # "auth"
_KEYS_LOCK_ID = 0x6B65_7973  # "keys"
_SQLITE_BEGIN = "sqlite_begin"
DEFAULT_ROLE = "authenticated"
DEFAULT_AUDIENCE = "authenticated"


def create_engine(database_url: str) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        event.listen(engine.sync_engine, "begin", _begin_sqlite)
        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin: the module
    # never opens one before DDL, which would leave migrations non-transactional.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    # Foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets readers and one writer work at once. The mode is stored in the file, so it is
    # switched once; a connection that loses the race to switch it finds it switched.
    cursor.execute("PRAGMA journal_mode")
    if cursor.fetchone()[0].lower() != "wal":
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            logger.debug("another connection is switching the SQLite file to WAL")
    cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    # IMMEDIATE takes the write lock up front; a deferred transaction that reads and then
    # writes can fail at once with "database is locked" instead of waiting its turn.
    mode = connection.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


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


async def _at_head(engine: AsyncEngine) -> bool:
    head = head_revision()
    if head is None:
        return False
    try:
        async with engine.connect() as connection:
            result = await connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            versions = list(result.scalars())
    except sa.exc.DBAPIError:  # no version table: a new database
        return False
    return versions == [head]


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


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the latest revision; safe when several processes start at once.

    A restart finds the schema current: one query says so, and Alembic (about a quarter of
    the service's start-up in imports alone, bench/RESULTS.md) is neither imported nor run.
    """
    if await _at_head(engine):
        return
    async with engine.connect() as connection:
        exclusive = await connection.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
        async with exclusive.begin():
            await exclusive.run_sync(_upgrade)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredUser:
    account: UserAccount
    password_hash: str


@dataclass(frozen=True, slots=True)
class StoredSigningKey:
    kid: str
    algorithm: str
    private_jwk: dict[str, Any]
    created_at: datetime


def _account(row: sa.Row[Any]) -> UserAccount:
    return UserAccount(
        id=row.id,
        email=row.email,
        role=row.role,
        aud=row.aud,
        email_confirmed_at=row.email_confirmed_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_sign_in_at=row.last_sign_in_at,
        user_metadata=dict(row.user_metadata),
        app_metadata=dict(row.app_metadata),
    )


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

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
            async with self.engine.begin() as connection:
                await connection.execute(
                    users.insert().values(password_hash=password_hash, **asdict(account))
                )
        except IntegrityError:
            raise EmailExists() from None
        return account

    async def find_user_by_email(self, email: str) -> StoredUser | None:
        async with self.engine.connect() as connection:
            result = await connection.execute(sa.select(users).where(users.c.email == email))
            row = result.first()
        if row is None:
            return None
        return StoredUser(account=_account(row), password_hash=row.password_hash)

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
        session_id = uuid4()
        user_changes: dict[str, Any] = {"last_sign_in_at": now, "updated_at": now}
        if upgraded_password_hash is not None:
            user_changes["password_hash"] = upgraded_password_hash
        async with self.engine.begin() as connection:
            await connection.execute(
                users.update().where(users.c.id == user.id).values(**user_changes)
            )
            await connection.execute(
                sessions.insert().values(
                    id=session_id,
                    user_id=user.id,
                    created_at=now,
                    ip=ip[:64] if ip else None,
                    user_agent=user_agent[:512] if user_agent else None,
                )
            )
            await connection.execute(
                refresh_tokens.insert().values(
                    session_id=session_id,
                    token_hash=hash_refresh_token(refresh_token),
                    revoked=False,
                    created_at=now,
                )
            )
        return session_id, replace(user, updated_at=now, last_sign_in_at=now)

    async def rotate_refresh_token(
        self, *, presented: str, replacement: str, now: datetime
    ) -> tuple[UUID, UserAccount]:
        """Swap a live refresh token for a new one in the same session.

        The conditional UPDATE is the whole concurrency story: of two requests presenting the
        same token, exactly one flips `revoked`; the other sees a used token, which is reuse.
        """
        presented_hash = hash_refresh_token(presented)
        reused = False
        async with self.engine.begin() as connection:
            claimed = await connection.execute(
                refresh_tokens.update()
                .where(
                    refresh_tokens.c.token_hash == presented_hash,
                    refresh_tokens.c.revoked.is_(False),
                )
                .values(revoked=True)
            )
            row = (
                await connection.execute(
                    sa.select(
                        refresh_tokens.c.session_id, sessions.c.revoked_at, sessions.c.user_id
                    )
                    .join(sessions, sessions.c.id == refresh_tokens.c.session_id)
                    .where(refresh_tokens.c.token_hash == presented_hash)
                )
            ).first()
            if row is None:
                raise InvalidRefreshToken()
            if claimed.rowcount != 1:
                # Revoke and commit before answering: raising inside would roll it back.
                reused = True
                await self._revoke(connection, [row.session_id], now)
            elif row.revoked_at is not None:
                raise InvalidRefreshToken()
            else:
                await connection.execute(
                    refresh_tokens.insert().values(
                        session_id=row.session_id,
                        token_hash=hash_refresh_token(replacement),
                        parent_hash=presented_hash,
                        revoked=False,
                        created_at=now,
                    )
                )
                await connection.execute(
                    sessions.update()
                    .where(sessions.c.id == row.session_id)
                    .values(refreshed_at=now)
                )
                user = (
                    await connection.execute(sa.select(users).where(users.c.id == row.user_id))
                ).one()
        if reused:
            raise RefreshTokenReused()
        return row.session_id, _account(user)

    async def end_sessions(
        self, *, user_id: UUID, current_session: UUID, scope: str, now: datetime
    ) -> list[UUID]:
        """Revoke the current session (local), all of the user's (global) or all but it
        (others); returns the sessions revoked."""
        query = sa.select(sessions.c.id).where(
            sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)
        )
        if scope == "local":
            query = query.where(sessions.c.id == current_session)
        elif scope == "others":
            query = query.where(sessions.c.id != current_session)
        async with self.engine.begin() as connection:
            ended = list((await connection.execute(query)).scalars())
            await self._revoke(connection, ended, now)
        return ended

    async def sessions_revoked_since(self, since: datetime) -> list[tuple[UUID, datetime]]:
        query = sa.select(sessions.c.id, sessions.c.revoked_at).where(
            sessions.c.revoked_at >= since
        )
        async with self.engine.connect() as connection:
            return [(row.id, row.revoked_at) for row in await connection.execute(query)]

    @staticmethod
    async def _revoke(connection: AsyncConnection, session_ids: list[UUID], now: datetime) -> None:
        if not session_ids:
            return
        await connection.execute(
            sessions.update()
            .where(sessions.c.id.in_(session_ids), sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await connection.execute(
            refresh_tokens.update()
            .where(refresh_tokens.c.session_id.in_(session_ids))
            .values(revoked=True)
        )

    async def signing_keys(self) -> list[StoredSigningKey]:
        """Every key still valid for verification, oldest first."""
        query = (
            sa.select(signing_keys)
            .where(signing_keys.c.retired_at.is_(None))
            .order_by(signing_keys.c.created_at, signing_keys.c.kid)
        )
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            StoredSigningKey(
                kid=row.kid,
                algorithm=row.algorithm,
                private_jwk=dict(row.private_jwk),
                created_at=row.created_at,
            )
            for row in rows
        ]

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
        """Store a signing key; with `only_if_none`, only when no valid key exists yet.

        The check and the insert run under one exclusive lock, so replicas starting together
        store exactly one first key: otherwise one could sign with a key that another, which
        read the table a moment earlier, does not know.
        """
        async with self.engine.connect() as connection:
            exclusive = await connection.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
            async with exclusive.begin():
                if only_if_none:
                    if exclusive.dialect.name == "postgresql":
                        await exclusive.execute(
                            sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _KEYS_LOCK_ID}
                        )
                    query = sa.select(signing_keys.c.kid).where(signing_keys.c.retired_at.is_(None))
                    if (await exclusive.execute(query.limit(1))).first() is not None:
                        return
                await exclusive.execute(
                    signing_keys.insert().values(
                        kid=kid,
                        algorithm=algorithm,
                        private_jwk=private_jwk,
                        public_jwk=public_jwk,
                        created_at=now,
                    )
                )

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
