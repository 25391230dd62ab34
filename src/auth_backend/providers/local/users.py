"""Accounts in the local store: creating them and finding them by email address.

Statements are built once, at import, and executed with parameter dicts: building a statement
and generating its cache key cost more CPU than running it did (bench/RESULTS.md). Bind parameters
that compare are named `b_*`, as SQLAlchemy reserves column names for the values set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from auth_backend.domain import JsonObject, UserAccount
from auth_backend.errors import EmailExists
from auth_backend.store.database import Database
from auth_backend.store.schema import users

DEFAULT_ROLE = "authenticated"
DEFAULT_AUDIENCE = "authenticated"


@dataclass(frozen=True, slots=True)
class StoredUser:
    account: UserAccount
    password_hash: str
    banned_until: datetime | None = None

    def banned_at(self, now: datetime) -> bool:
        # A ban lifts itself when its time passes, as in Supabase.
        return self.banned_until is not None and self.banned_until > now


_INSERT_USER = users.insert()
_USER_BY_EMAIL = sa.select(users).where(users.c.email == sa.bindparam("b_email"))
_LIVE_USER_BY_ID = sa.select(users).where(
    users.c.id == sa.bindparam("b_id"), users.c.deleted_at.is_(None)
)
_CONFIRM_EMAIL = users.update().where(
    users.c.id == sa.bindparam("b_id"), users.c.email_confirmed_at.is_(None)
)
USER_BY_ID = sa.select(users).where(users.c.id == sa.bindparam("b_id"))
# Sets the columns given in its parameters, for the user `b_id`.
UPDATE_USER = users.update().where(users.c.id == sa.bindparam("b_id"))


def account_from_row(row: sa.Row[Any]) -> UserAccount:
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


# The address is freed for a new signup and the password can match nothing; the row stays
# (see schema.users.deleted_at).
_SCRUB_USER = users.update().where(users.c.id == sa.bindparam("b_id"), users.c.deleted_at.is_(None))


def scrub_user(connection: Connection, user_id: UUID, now: datetime) -> bool:
    """Mark the account deleted; False when there was no such (live) account."""
    scrubbed = {
        "b_id": user_id,
        # Unique like the address it replaces; .invalid can never receive mail.
        "email": f"deleted-{user_id.hex}@deleted.invalid",
        "password_hash": "!",
        "user_metadata": {},
        "app_metadata": {},
        "deleted_at": now,
        "updated_at": now,
    }
    return connection.execute(_SCRUB_USER, scrubbed).rowcount == 1


def _insert_user(connection: Connection, values: dict[str, Any]) -> None:
    connection.execute(_INSERT_USER, values)


def confirm_email(connection: Connection, user_id: UUID, now: datetime) -> None:
    """Mark the address verified, if it is not yet (in the caller's transaction)."""
    connection.execute(_CONFIRM_EMAIL, {"b_id": user_id, "email_confirmed_at": now})


def set_password(connection: Connection, user_id: UUID, password_hash: str, now: datetime) -> None:
    connection.execute(
        UPDATE_USER, {"b_id": user_id, "password_hash": password_hash, "updated_at": now}
    )


def _find_user_by_email(connection: Connection, email: str) -> StoredUser | None:
    return _stored(connection.execute(_USER_BY_EMAIL, {"b_email": email}).first())


def _find_live_user_by_id(connection: Connection, user_id: UUID) -> StoredUser | None:
    return _stored(connection.execute(_LIVE_USER_BY_ID, {"b_id": user_id}).first())


def _stored(row: sa.Row[Any] | None) -> StoredUser | None:
    if row is None:
        return None
    return StoredUser(
        account=account_from_row(row),
        password_hash=row.password_hash,
        banned_until=row.banned_until,
    )


class Users:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(
        self,
        *,
        email: str,
        password_hash: str,
        user_metadata: JsonObject,
        now: datetime,
        email_confirmed: bool = True,
    ) -> UserAccount:
        account = UserAccount(
            id=uuid4(),
            email=email,
            role=DEFAULT_ROLE,
            aud=DEFAULT_AUDIENCE,
            # Unconfirmed only when the address must be verified first (EMAIL_CONFIRMATION).
            email_confirmed_at=now if email_confirmed else None,
            created_at=now,
            updated_at=now,
            last_sign_in_at=None,
            user_metadata=user_metadata,
            app_metadata={"provider": "email", "providers": ["email"]},
        )
        try:
            await self._database.write(
                _insert_user, {"password_hash": password_hash, **asdict(account)}
            )
        except IntegrityError:
            raise EmailExists() from None
        return account

    async def find_by_email(self, email: str) -> StoredUser | None:
        return await self._database.read(_find_user_by_email, email)

    async def find_live_by_id(self, user_id: UUID) -> StoredUser | None:
        """The account, unless it does not exist or was deleted."""
        return await self._database.read(_find_live_user_by_id, user_id)
