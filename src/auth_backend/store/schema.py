"""The local provider's tables. Alembic migrations in `auth_backend/migrations` create them."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, even on SQLite, which stores no offset."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("email", sa.String(255), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(64), nullable=False),
    sa.Column("aud", sa.String(64), nullable=False),
    sa.Column("email_confirmed_at", UtcDateTime(), nullable=True),
    sa.Column("banned_until", UtcDateTime(), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("last_sign_in_at", UtcDateTime(), nullable=True),
    sa.Column("user_metadata", sa.JSON(), nullable=False),
    sa.Column("app_metadata", sa.JSON(), nullable=False),
    # Set when the account is deleted: the row stays, its address and password scrubbed, so
    # that its sessions stay recorded as ended until every token of theirs has expired.
    sa.Column("deleted_at", UtcDateTime(), nullable=True),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column(
        "user_id",
        sa.Uuid(),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("refreshed_at", UtcDateTime(), nullable=True),
    # Indexed: every replica polls for recently revoked sessions.
    sa.Column("revoked_at", UtcDateTime(), nullable=True, index=True),
    sa.Column("ip", sa.String(64), nullable=True),
    sa.Column("user_agent", sa.String(512), nullable=True),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column(
        "session_id",
        sa.Uuid(),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # SHA-256 of the token: a leaked database does not yield usable refresh tokens.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("parent_hash", sa.String(64), nullable=True),
    sa.Column("revoked", sa.Boolean(), nullable=False, default=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # When a rotation used it up (null: unused, or revoked by a logout); within the reuse
    # interval after that, presenting it again is a client's retry, not a replay.
    sa.Column("used_at", UtcDateTime(), nullable=True),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("algorithm", sa.String(16), nullable=False),
    sa.Column("private_jwk", sa.JSON(), nullable=False),
    sa.Column("public_jwk", sa.JSON(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("retired_at", UtcDateTime(), nullable=True),
)

# One-time codes mailed for account recovery and email verification, on every provider. Only
# hashes are kept: of the 6-digit code (salted with the row's id) and of the link's 256-bit
# token. A code is live while `ended_at` is null and `expires_at` is ahead.
one_time_codes = sa.Table(
    "one_time_codes",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    # "recovery" or "verification"
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column("email", sa.String(255), nullable=False),
    # No foreign key: on Supabase the account lives upstream.
    sa.Column("user_id", sa.Uuid(), nullable=False),
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    # Supabase: its own token hash for this code, encrypted under a key derived from the
    # link's token, so only the holder of the link can recover it.
    sa.Column("upstream_secret", sa.Text(), nullable=True),
    sa.Column("failed_attempts", sa.Integer(), nullable=False, default=0),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("ended_at", UtcDateTime(), nullable=True),
    # "used", "superseded" or "exhausted" (too many wrong attempts)
    sa.Column("end_reason", sa.String(16), nullable=True),
    sa.Index("ix_one_time_codes_purpose_email", "purpose", "email"),
)

# Mail waiting to be sent, written in the same transaction as the code it carries, and claimed
# by any replica's worker. Bodies are blanked once the row is settled (sent or given up).
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    # "recovery" or "verification": metrics and templates are per kind
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("recipient", sa.String(255), nullable=False),
    sa.Column("subject", sa.String(255), nullable=False),
    sa.Column("body_text", sa.Text(), nullable=False),
    sa.Column("body_html", sa.Text(), nullable=False),
    # "pending", "sent" or "failed" (given up after the last attempt)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, default=0),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # When a pending row is next due; a claim moves it past the claim's lease, so a worker
    # that dies mid-send leaves the row to be claimed again when the lease runs out.
    sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime(), nullable=True),
    # Why the last attempt failed (the error's class and the server's reply; never the body)
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
)
