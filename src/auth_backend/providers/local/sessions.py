"""Sessions in the local store: starting them, rotating their refresh tokens, ending them.

The session rules live here (`SessionPolicy` holds their numbers):
- A refresh token is stored only as its SHA-256 hash and is used up when presented: presenting
  it again is reuse, which ends the whole session, so that of an attacker and a victim holding
  the same token, neither keeps the session.
- Except within the reuse interval after its first use: a client that sent the same refresh
  twice (a retry after a lost answer, tabs racing) gets another token of the same session
  instead of losing it, as with Supabase Auth's reuse interval.
- A session ends when it is older than its maximum lifetime or unused for longer than the
  inactivity timeout, when its user is banned, and when its user is deleted; each is checked
  at refresh, and the session is recorded as ended, so its access tokens are refused too.
- Logout ends the token's own session, every session of its user, or every other one
  (`LogoutScope`).

Each operation is one sync function over one `Connection`, run as one unit of work by the
`Database`; statements are built once (see users.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auth_backend.domain import LogoutScope, UserAccount
from auth_backend.errors import InvalidRefreshToken, RefreshTokenReused, ServiceError, UserBanned
from auth_backend.providers.local.users import UPDATE_USER, USER_BY_ID, account_from_row
from auth_backend.store.database import Database
from auth_backend.store.schema import refresh_tokens, sessions, users


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class _SignIn:
    """A successful sign-in, to be recorded by `_start_session`."""

    user_id: UUID
    refresh_token_hash: str
    now: datetime
    ip: str | None
    user_agent: str | None
    # A new hash when the stored one uses outdated parameters or algorithm.
    upgraded_password_hash: str | None


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    max_lifetime: timedelta
    inactivity_timeout: timedelta
    reuse_interval: timedelta

    def retry(self, used_at: datetime | None, now: datetime) -> bool:
        """Whether presenting a token used at `used_at` again is a client's retry. A request
        that lost a race may have started before the winner used the token (`now` earlier
        than `used_at`): still within the interval, unless there is no interval at all."""
        if used_at is None or not self.reuse_interval:
            return False
        return now - used_at <= self.reuse_interval

    def ended_by_age(self, created_at: datetime, last_used_at: datetime, now: datetime) -> bool:
        return now - created_at > self.max_lifetime or now - last_used_at > self.inactivity_timeout


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a refresh-token rotation found: the session, and either its user (a new token was
    stored) or why the session has just been ended (`refusal`, raised once committed)."""

    session_id: UUID
    user: UserAccount | None
    refusal: ServiceError | None = None


_INSERT_SESSION = sessions.insert()
_UPDATE_SESSION = sessions.update().where(sessions.c.id == sa.bindparam("b_id"))
_LIVE_SESSIONS = sa.select(sessions.c.id).where(
    sessions.c.user_id == sa.bindparam("b_user_id"), sessions.c.revoked_at.is_(None)
)
# The sessions each logout scope ends; b_current is the session of the token presented.
_SESSIONS_TO_END: dict[LogoutScope, sa.Select[Any]] = {
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
# Sets `used_at` from its parameters.
_CLAIM_REFRESH_TOKEN = (
    refresh_tokens.update()
    .where(
        refresh_tokens.c.token_hash == sa.bindparam("b_hash"), refresh_tokens.c.revoked.is_(False)
    )
    .values(revoked=True)
)
_REFRESH_TOKEN_STATE = (
    sa.select(
        refresh_tokens.c.session_id,
        refresh_tokens.c.used_at,
        sessions.c.revoked_at,
        sessions.c.user_id,
        sessions.c.created_at,
        sessions.c.refreshed_at,
        users.c.banned_until,
        users.c.deleted_at,
    )
    .join(sessions, sessions.c.id == refresh_tokens.c.session_id)
    .join(users, users.c.id == sessions.c.user_id)
    .where(refresh_tokens.c.token_hash == sa.bindparam("b_hash"))
)
_REVOKE_REFRESH_TOKENS = (
    refresh_tokens.update()
    .where(refresh_tokens.c.session_id.in_(sa.bindparam("b_ids", expanding=True)))
    .values(revoked=True)
)


def _start_session(connection: Connection, sign_in: _SignIn) -> UUID:
    """A new session, its first refresh token, the login time (and a rehashed password)."""
    session_id = uuid4()
    now, user_id, ip, user_agent = sign_in.now, sign_in.user_id, sign_in.ip, sign_in.user_agent
    user_changes: dict[str, Any] = {"b_id": user_id, "last_sign_in_at": now, "updated_at": now}
    if sign_in.upgraded_password_hash is not None:
        user_changes["password_hash"] = sign_in.upgraded_password_hash
    connection.execute(UPDATE_USER, user_changes)
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


def _rotate_refresh_token(
    connection: Connection,
    presented_hash: str,
    replacement_hash: str,
    now: datetime,
    policy: SessionPolicy,
) -> Rotation:
    """Swap a live refresh token for a new one in the same session.

    The conditional UPDATE is the whole concurrency story: of two requests presenting the
    same token, exactly one flips `revoked`; the other sees a used token, which is a retry
    within the reuse interval (it gets a token of its own) or else reuse: the session is
    revoked, and the result, carrying the refusal, lets that commit. An unknown token, or one
    of an ended session, raises InvalidRefreshToken (rolling back).
    """
    claimed = connection.execute(_CLAIM_REFRESH_TOKEN, {"b_hash": presented_hash, "used_at": now})
    row = connection.execute(_REFRESH_TOKEN_STATE, {"b_hash": presented_hash}).first()
    if row is None:
        raise InvalidRefreshToken()
    if claimed.rowcount != 1 and not (row.revoked_at is None and policy.retry(row.used_at, now)):
        _revoke(connection, [row.session_id], now)
        return Rotation(session_id=row.session_id, user=None, refusal=RefreshTokenReused())
    if row.revoked_at is not None:
        raise InvalidRefreshToken()
    refusal = _refusal(
        deleted_at=row.deleted_at,
        banned_until=row.banned_until,
        created_at=row.created_at,
        last_used_at=row.refreshed_at or row.created_at,
        now=now,
        policy=policy,
    )
    if refusal is not None:
        _revoke(connection, [row.session_id], now)
        return Rotation(session_id=row.session_id, user=None, refusal=refusal)
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
    user = connection.execute(USER_BY_ID, {"b_id": row.user_id}).one()
    return Rotation(session_id=row.session_id, user=account_from_row(user))


def _refusal(
    *,
    deleted_at: datetime | None,
    banned_until: datetime | None,
    created_at: datetime,
    last_used_at: datetime,
    now: datetime,
    policy: SessionPolicy,
) -> ServiceError | None:
    """Why a live session must end instead of being refreshed, if it must."""
    if deleted_at is not None:
        return InvalidRefreshToken()
    if banned_until is not None and banned_until > now:
        return UserBanned()
    if policy.ended_by_age(created_at, last_used_at, now):
        return InvalidRefreshToken("The session has expired; log in again.")
    return None


def _end_sessions(
    connection: Connection, user_id: UUID, current_session: UUID, scope: LogoutScope, now: datetime
) -> list[UUID]:
    parameters = {"b_user_id": user_id, "b_current": current_session}
    ended: list[UUID] = list(connection.execute(_SESSIONS_TO_END[scope], parameters).scalars())
    _revoke(connection, ended, now)
    return ended


def end_all_sessions(connection: Connection, user_id: UUID, now: datetime) -> list[UUID]:
    """Revoke every live session of the user (in the caller's transaction)."""
    ended: list[UUID] = list(connection.execute(_LIVE_SESSIONS, {"b_user_id": user_id}).scalars())
    _revoke(connection, ended, now)
    return ended


def _revoke(connection: Connection, session_ids: list[UUID], now: datetime) -> None:
    if not session_ids:
        return
    connection.execute(_REVOKE_SESSIONS, {"b_ids": session_ids, "revoked_at": now})
    connection.execute(_REVOKE_REFRESH_TOKENS, {"b_ids": session_ids})


def _sessions_revoked_since(connection: Connection, since: datetime) -> list[tuple[UUID, datetime]]:
    rows = connection.execute(_REVOKED_SINCE, {"b_since": since})
    return [(row.id, row.revoked_at) for row in rows]


class SessionStore:
    def __init__(self, database: Database, policy: SessionPolicy) -> None:
        self._database = database
        self._policy = policy

    async def start(
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
        sign_in = _SignIn(
            user_id=user.id,
            refresh_token_hash=hash_refresh_token(refresh_token),
            now=now,
            ip=ip,
            user_agent=user_agent,
            upgraded_password_hash=upgraded_password_hash,
        )
        session_id = await self._database.write(_start_session, sign_in)
        return session_id, replace(user, updated_at=now, last_sign_in_at=now)

    async def rotate(self, *, presented: str, replacement: str, now: datetime) -> Rotation:
        """Swap a live refresh token for a new one in the same session (see
        _rotate_refresh_token); a Rotation with a refusal means the session was just ended."""
        return await self._database.write(
            _rotate_refresh_token,
            hash_refresh_token(presented),
            hash_refresh_token(replacement),
            now,
            self._policy,
        )

    async def end(
        self, *, user_id: UUID, current_session: UUID, scope: LogoutScope, now: datetime
    ) -> list[UUID]:
        """Revoke the sessions `scope` names; returns the sessions revoked."""
        return await self._database.write(_end_sessions, user_id, current_session, scope, now)

    async def revoked_since(self, since: datetime) -> list[tuple[UUID, datetime]]:
        return await self._database.read(_sessions_revoked_since, since)
