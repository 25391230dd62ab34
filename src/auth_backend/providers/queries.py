"""The store's SQL: each operation a sync function over one `Connection`, run as one unit by a
`Database` (providers/database.py).

Statements are built once, here, and executed with parameter dicts: building a statement and
generating its cache key cost more CPU than running it did (issue #7). An UPDATE or INSERT
without `.values()` takes its columns from the parameters; bind parameters that compare are
named `b_*`, as SQLAlchemy reserves column names for those.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auth_backend.domain import UserAccount
from auth_backend.errors import InvalidRefreshToken
from auth_backend.providers.schema import refresh_tokens, sessions, signing_keys, users

# Any constant works; it only has to be the same for every replica.
KEYS_LOCK_ID = 0x6B65_7973  # "keys"


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


@dataclass(frozen=True, slots=True)
class RotatedToken:
    """What a refresh-token rotation found: the session, and its user unless it was reuse."""

    session_id: UUID
    user: UserAccount | None


_ADVISORY_LOCK = sa.text("SELECT pg_advisory_xact_lock(:id)")

_INSERT_USER = users.insert()
_USER_BY_EMAIL = sa.select(users).where(users.c.email == sa.bindparam("b_email"))
_USER_BY_ID = sa.select(users).where(users.c.id == sa.bindparam("b_id"))
_UPDATE_USER = users.update().where(users.c.id == sa.bindparam("b_id"))

_INSERT_SESSION = sessions.insert()
_UPDATE_SESSION = sessions.update().where(sessions.c.id == sa.bindparam("b_id"))
_LIVE_SESSIONS = sa.select(sessions.c.id).where(
    sessions.c.user_id == sa.bindparam("b_user_id"), sessions.c.revoked_at.is_(None)
)
# The sessions each logout scope ends; b_current is the session of the token presented.
_SESSIONS_TO_END = {
    "local": _LIVE_SESSIONS.where(sessions.c.id == sa.bindparam("b_current")),
    "global": _LIVE_SESSIONS,
    "others": _LIVE_SESSIONS.where(sessions.c.id != sa.bindparam("b_current")),
}
_REVOKE_SESSIONS = sessions.update().where(
    sessions.c.id.in_(sa.bindparam("b_ids", expanding=True)), sessions.c.revoked_at.is_(None)
)
_REVOKED_SINCE = sa.select(sessions.c.id, sessions.c.revoked_at).where(
    sessions.c.revoked_at >= sa.bindparam("b_since")
)

_INSERT_REFRESH_TOKEN = refresh_tokens.insert()
_CLAIM_REFRESH_TOKEN = (
    refresh_tokens.update()
    .where(
        refresh_tokens.c.token_hash == sa.bindparam("b_hash"), refresh_tokens.c.revoked.is_(False)
    )
    .values(revoked=True)
)
_REFRESH_TOKEN_SESSION = (
    sa.select(refresh_tokens.c.session_id, sessions.c.revoked_at, sessions.c.user_id)
    .join(sessions, sessions.c.id == refresh_tokens.c.session_id)
    .where(refresh_tokens.c.token_hash == sa.bindparam("b_hash"))
)
_REVOKE_REFRESH_TOKENS = (
    refresh_tokens.update()
    .where(refresh_tokens.c.session_id.in_(sa.bindparam("b_ids", expanding=True)))
    .values(revoked=True)
)

_INSERT_SIGNING_KEY = signing_keys.insert()
_VALID_SIGNING_KEYS = (
    sa.select(signing_keys)
    .where(signing_keys.c.retired_at.is_(None))
    .order_by(signing_keys.c.created_at, signing_keys.c.kid)
)
_ANY_VALID_SIGNING_KEY = (
    sa.select(signing_keys.c.kid).where(signing_keys.c.retired_at.is_(None)).limit(1)
)

_PING = sa.text("SELECT 1")


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


def insert_user(connection: Connection, values: dict[str, Any]) -> None:
    connection.execute(_INSERT_USER, values)


def find_user_by_email(connection: Connection, email: str) -> StoredUser | None:
    row = connection.execute(_USER_BY_EMAIL, {"b_email": email}).first()
    if row is None:
        return None
    return StoredUser(account=_account(row), password_hash=row.password_hash)


@dataclass(frozen=True, slots=True)
class SignIn:
    """A successful sign-in, to be recorded by `start_session`."""

    user_id: UUID
    refresh_token_hash: str
    now: datetime
    ip: str | None
    user_agent: str | None
    # A new hash when the stored one uses outdated parameters or algorithm.
    upgraded_password_hash: str | None


def start_session(connection: Connection, sign_in: SignIn) -> UUID:
    """A new session, its first refresh token, the login time (and a rehashed password)."""
    session_id = uuid4()
    now, user_id, ip, user_agent = sign_in.now, sign_in.user_id, sign_in.ip, sign_in.user_agent
    user_changes: dict[str, Any] = {"b_id": user_id, "last_sign_in_at": now, "updated_at": now}
    if sign_in.upgraded_password_hash is not None:
        user_changes["password_hash"] = sign_in.upgraded_password_hash
    connection.execute(_UPDATE_USER, user_changes)
    connection.execute(
        _INSERT_SESSION,
        {
            "id": session_id,
            "user_id": user_id,
            "created_at": now,
            "ip": ip[:64] if ip else None,
            "user_agent": user_agent[:512] if user_agent else None,
        },
    )
    connection.execute(
        _INSERT_REFRESH_TOKEN,
        {
            "session_id": session_id,
            "token_hash": sign_in.refresh_token_hash,
            "revoked": False,
            "created_at": now,
        },
    )
    return session_id


def rotate_refresh_token(
    connection: Connection, presented_hash: str, replacement_hash: str, now: datetime
) -> RotatedToken:
    """Swap a live refresh token for a new one in the same session.

    The conditional UPDATE is the whole concurrency story: of two requests presenting the
    same token, exactly one flips `revoked`; the other sees a used token, which is reuse: the
    session is revoked, and the result, carrying no user, lets that commit. An unknown token,
    or one of an ended session, raises InvalidRefreshToken (rolling back).
    """
    claimed = connection.execute(_CLAIM_REFRESH_TOKEN, {"b_hash": presented_hash})
    row = connection.execute(_REFRESH_TOKEN_SESSION, {"b_hash": presented_hash}).first()
    if row is None:
        raise InvalidRefreshToken()
    if claimed.rowcount != 1:
        _revoke(connection, [row.session_id], now)
        return RotatedToken(session_id=row.session_id, user=None)
    if row.revoked_at is not None:
        raise InvalidRefreshToken()
    connection.execute(
        _INSERT_REFRESH_TOKEN,
        {
            "session_id": row.session_id,
            "token_hash": replacement_hash,
            "parent_hash": presented_hash,
            "revoked": False,
            "created_at": now,
        },
    )
    connection.execute(_UPDATE_SESSION, {"b_id": row.session_id, "refreshed_at": now})
    user = connection.execute(_USER_BY_ID, {"b_id": row.user_id}).one()
    return RotatedToken(session_id=row.session_id, user=_account(user))


def end_sessions(
    connection: Connection, user_id: UUID, current_session: UUID, scope: str, now: datetime
) -> list[UUID]:
    query = _SESSIONS_TO_END.get(scope, _LIVE_SESSIONS)
    parameters = {"b_user_id": user_id, "b_current": current_session}
    ended = list(connection.execute(query, parameters).scalars())
    _revoke(connection, ended, now)
    return ended


def _revoke(connection: Connection, session_ids: list[UUID], now: datetime) -> None:
    if not session_ids:
        return
    connection.execute(_REVOKE_SESSIONS, {"b_ids": session_ids, "revoked_at": now})
    connection.execute(_REVOKE_REFRESH_TOKENS, {"b_ids": session_ids})


def sessions_revoked_since(connection: Connection, since: datetime) -> list[tuple[UUID, datetime]]:
    rows = connection.execute(_REVOKED_SINCE, {"b_since": since})
    return [(row.id, row.revoked_at) for row in rows]


def valid_signing_keys(connection: Connection) -> list[StoredSigningKey]:
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


def add_signing_key(connection: Connection, values: dict[str, Any], only_if_none: bool) -> None:
    """Store a signing key; with `only_if_none`, only when no valid key exists yet.

    Run under an exclusive lock (BEGIN IMMEDIATE on SQLite, an advisory lock here on
    PostgreSQL), so replicas starting together store exactly one first key: otherwise one
    could sign with a key that another, which read the table a moment earlier, does not know.
    """
    if only_if_none:
        if connection.dialect.name == "postgresql":
            connection.execute(_ADVISORY_LOCK, {"id": KEYS_LOCK_ID})
        if connection.execute(_ANY_VALID_SIGNING_KEY).first() is not None:
            return
    connection.execute(_INSERT_SIGNING_KEY, values)


def ping(connection: Connection) -> None:
    connection.execute(_PING)
