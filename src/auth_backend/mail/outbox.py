"""The outbox table's operations: sync functions over a `Connection`, each run as one unit by
`Database.write` / `write_exclusive` / `read` (store/database.py).

`enqueue` runs in the caller's own transaction, beside the row of the code the mail carries:
either both are stored or neither is, and a stored mail is sent even if this process dies
right after answering. A worker then claims due rows with a lease (`claim_due`), sends them,
and settles each (`mark_sent`, `mark_failed_attempt`). Settled rows keep no body, so no live
code or link stays at rest once its mail has gone (or been given up).

Statements are built once, at import, as in the store's other modules (bind parameters that
compare are named `b_*`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auth_backend.mail.messages import MailKind, OutgoingMail
from auth_backend.store.schema import outbox

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
# The column's width (schema.outbox.last_error).
LAST_ERROR_LENGTH = 500


@dataclass(frozen=True, slots=True)
class ClaimedMail:
    """A row claimed by one worker until `leased_until`."""

    id: int
    kind: MailKind
    recipient: str
    subject: str
    body_text: str
    body_html: str
    # Attempts made before this one.
    attempts: int
    created_at: datetime
    leased_until: datetime


_INSERT = outbox.insert()
# Oldest due first. FOR UPDATE SKIP LOCKED (PostgreSQL): concurrent claimers each get other
# rows instead of waiting for each other. SQLite renders no FOR UPDATE; there the claim runs
# under BEGIN IMMEDIATE (write_exclusive), which makes the select-then-update one atomic step
# against every other writer of the file, in this process or another.
_DUE = (
    sa.select(outbox)
    .where(outbox.c.status == PENDING, outbox.c.next_attempt_at <= sa.bindparam("b_now"))
    .order_by(outbox.c.next_attempt_at, outbox.c.id)
    .limit(sa.bindparam("b_limit"))
    .with_for_update(skip_locked=True)
)
_LEASE = (
    outbox.update()
    .where(outbox.c.id.in_(sa.bindparam("b_ids", expanding=True)))
    .values(next_attempt_at=sa.bindparam("b_until"))
)
# Every settling statement holds only while the row is pending, so a row is settled once;
# each counts the attempt it settles (a successful one too).
_SETTLE = outbox.update().where(outbox.c.id == sa.bindparam("b_id"), outbox.c.status == PENDING)
_ATTEMPT = _SETTLE.values(attempts=outbox.c.attempts + 1)
_STATS = sa.select(sa.func.count(), sa.func.min(outbox.c.created_at)).where(
    outbox.c.status == PENDING
)


def enqueue(connection: Connection, mail: OutgoingMail, now: datetime) -> int:
    """Store `mail` as due now; returns the row's id. Run it inside the transaction that
    stores what the mail is about."""
    result = connection.execute(
        _INSERT,
        {
            "kind": mail.kind,
            "recipient": mail.recipient,
            "subject": mail.subject,
            "body_text": mail.text,
            "body_html": mail.html,
            "status": PENDING,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        },
    )
    row_id: int = result.inserted_primary_key[0]  # type: ignore[index]  # one-column key
    return row_id


def claim_due(
    connection: Connection, now: datetime, lease: timedelta, limit: int
) -> list[ClaimedMail]:
    """Claim up to `limit` due rows until `now + lease`. A worker that dies mid-send simply
    lets the lease run out: the row is due again then, and nothing is lost."""
    rows = connection.execute(_DUE, {"b_now": now, "b_limit": limit}).all()
    if not rows:
        return []
    until = now + lease
    connection.execute(_LEASE, {"b_ids": [row.id for row in rows], "b_until": until})
    return [_claimed(row, until) for row in rows]


def _claimed(row: sa.Row[Any], until: datetime) -> ClaimedMail:
    return ClaimedMail(
        id=row.id,
        kind=row.kind,
        recipient=row.recipient,
        subject=row.subject,
        body_text=row.body_text,
        body_html=row.body_html,
        attempts=row.attempts,
        created_at=row.created_at,
        leased_until=until,
    )


def mark_sent(connection: Connection, row_id: int, now: datetime) -> bool:
    """Record the row as sent and blank its bodies. False when it was no longer pending
    (settled by another worker after this one's lease ran out)."""
    result = connection.execute(
        _ATTEMPT,
        {"b_id": row_id, "status": SENT, "sent_at": now, "body_text": "", "body_html": ""},
    )
    return result.rowcount == 1


def mark_all_sent(connection: Connection, row_ids: list[int], now: datetime) -> list[int]:
    """`mark_sent` for each row, in the caller's one transaction (a batch settled at once);
    the ids of the rows that were still pending."""
    return [row_id for row_id in row_ids if mark_sent(connection, row_id, now)]


def mark_failed_attempt(
    connection: Connection,
    row_id: int,
    now: datetime,
    reason: str,
    next_attempt_at: datetime | None,
) -> bool:
    """Count a failed attempt and record why. `next_attempt_at`: when to try again; None gives
    the mail up (status failed, bodies blanked, `next_attempt_at` = when it was given up).
    False when the row was no longer pending."""
    values: dict[str, Any] = {"b_id": row_id, "last_error": reason[:LAST_ERROR_LENGTH]}
    if next_attempt_at is None:
        values.update(status=FAILED, next_attempt_at=now, body_text="", body_html="")
    else:
        values.update(next_attempt_at=next_attempt_at)
    return connection.execute(_ATTEMPT, values).rowcount == 1


def outbox_stats(connection: Connection, now: datetime) -> tuple[int, float]:
    """(pending rows, seconds since the oldest pending row was enqueued; 0 when none)."""
    depth, oldest = connection.execute(_STATS).one()
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return int(depth), age
