"""Mailed one-time codes in the store: issuing one (ending the previous), and redeeming one by
its code or its link's token, with a bounded number of wrong guesses.

Each function is one store operation over a `Connection`, run in one transaction by
`Database.write`; issuing runs inside the caller's transaction so that the code and the mail
carrying it (mail/outbox.py) are written together or not at all. Rows are locked while they are
checked (FOR UPDATE on PostgreSQL; SQLite's writes are serialised by BEGIN IMMEDIATE), and
every change is guarded by `ended_at IS NULL`, so two requests with one code cannot both
redeem it, and concurrent wrong guesses are all counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auth_backend.security.codes import code_matches, hash_code, hash_link_token
from auth_backend.store.schema import one_time_codes

Purpose = Literal["recovery", "verification"]
USED = "used"
SUPERSEDED = "superseded"
EXHAUSTED = "exhausted"

_codes = one_time_codes.c
_live = sa.and_(_codes.ended_at.is_(None), _codes.expires_at > sa.bindparam("b_now"))

_END_PREVIOUS = (
    one_time_codes.update()
    .where(
        _codes.purpose == sa.bindparam("b_purpose"),
        _codes.email == sa.bindparam("b_email"),
        _codes.ended_at.is_(None),
    )
    .values(ended_at=sa.bindparam("b_now"), end_reason=SUPERSEDED)
)
_INSERT = one_time_codes.insert()
_NEWEST_LIVE_BY_EMAIL = (
    sa.select(one_time_codes)
    .where(
        _codes.purpose == sa.bindparam("b_purpose"),
        _codes.email == sa.bindparam("b_email"),
        _live,
    )
    .order_by(_codes.created_at.desc())
    .limit(1)
    .with_for_update()
)
_LIVE_BY_TOKEN = (
    sa.select(one_time_codes)
    .where(
        _codes.purpose == sa.bindparam("b_purpose"),
        _codes.token_hash == sa.bindparam("b_token_hash"),
        _live,
    )
    .with_for_update()
)
# Ends a code as used, unless it ended meanwhile or has had its last wrong guess.
_REDEEM = (
    one_time_codes.update()
    .where(
        _codes.id == sa.bindparam("b_id"),
        _codes.ended_at.is_(None),
        _codes.failed_attempts < sa.bindparam("b_max_attempts"),
    )
    .values(ended_at=sa.bindparam("b_now"), end_reason=USED)
)
_COUNT_WRONG_GUESS = (
    one_time_codes.update()
    .where(_codes.id == sa.bindparam("b_id"), _codes.ended_at.is_(None))
    .values(failed_attempts=_codes.failed_attempts + 1)
)
_END_EXHAUSTED = (
    one_time_codes.update()
    .where(
        _codes.id == sa.bindparam("b_id"),
        _codes.ended_at.is_(None),
        _codes.failed_attempts >= sa.bindparam("b_max_attempts"),
    )
    .values(ended_at=sa.bindparam("b_now"), end_reason=EXHAUSTED)
)


@dataclass(frozen=True, slots=True)
class NewCode:
    """A code to issue: the plaintext code and link token exist only in memory, for the mail."""

    id: UUID
    purpose: Purpose
    email: str
    user_id: UUID
    code: str
    link_token: str
    expires_at: datetime
    upstream_secret: str | None = None


@dataclass(frozen=True, slots=True)
class RedeemedRow:
    user_id: UUID
    email: str
    upstream_secret: str | None


def end_previous_codes(connection: Connection, purpose: Purpose, email: str, now: datetime) -> None:
    """End every live code of `purpose` for `email`: run for every request, whether or not a
    new code follows, so that known and unknown addresses cost the same writes."""
    connection.execute(_END_PREVIOUS, {"b_purpose": purpose, "b_email": email, "b_now": now})


def insert_code(connection: Connection, code: NewCode, now: datetime) -> None:
    connection.execute(
        _INSERT,
        {
            "id": code.id,
            "purpose": code.purpose,
            "email": code.email,
            "user_id": code.user_id,
            "code_hash": hash_code(code.code, code.id),
            "token_hash": hash_link_token(code.link_token),
            "upstream_secret": code.upstream_secret,
            "failed_attempts": 0,
            "created_at": now,
            "expires_at": code.expires_at,
        },
    )


@dataclass(frozen=True, slots=True)
class CodeGuess:
    purpose: Purpose
    email: str
    code: str


def redeem_by_code(
    connection: Connection, guess: CodeGuess, now: datetime, max_attempts: int
) -> RedeemedRow | None:
    """The newest live code of the guess's purpose for its address, used up if the guess is
    it; None when there is none, or the guess was wrong (then counted: the code dies at
    `max_attempts` wrong guesses)."""
    row = connection.execute(
        _NEWEST_LIVE_BY_EMAIL,
        {"b_purpose": guess.purpose, "b_email": guess.email, "b_now": now},
    ).first()
    if row is None:
        return None
    if code_matches(guess.code, row.id, row.code_hash):
        return _redeem(connection, row, now, max_attempts)
    guard = {"b_id": row.id, "b_now": now, "b_max_attempts": max_attempts}
    connection.execute(_COUNT_WRONG_GUESS, guard)
    connection.execute(_END_EXHAUSTED, guard)
    return None


def redeem_by_link_token(
    connection: Connection, purpose: Purpose, link_token: str, now: datetime, max_attempts: int
) -> RedeemedRow | None:
    """The live code of `purpose` whose link carries `link_token`, used up; None when none."""
    row = connection.execute(
        _LIVE_BY_TOKEN,
        {"b_purpose": purpose, "b_token_hash": hash_link_token(link_token), "b_now": now},
    ).first()
    if row is None:
        return None
    return _redeem(connection, row, now, max_attempts)


def _redeem(
    connection: Connection, row: sa.Row[Any], now: datetime, max_attempts: int
) -> RedeemedRow | None:
    redeemed = connection.execute(
        _REDEEM, {"b_id": row.id, "b_now": now, "b_max_attempts": max_attempts}
    )
    if redeemed.rowcount != 1:
        return None  # redeemed by a concurrent request, or dead after its last wrong guess
    return RedeemedRow(user_id=row.user_id, email=row.email, upstream_secret=row.upstream_secret)
