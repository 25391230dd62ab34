"""Soft-deleted users, and when each refresh token was used (the reuse interval).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from auth_backend.store.schema import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Columns only: adding them rebuilds no table (SQLite), so no foreign key cascades.
    op.add_column("users", sa.Column("deleted_at", UtcDateTime(), nullable=True))
    op.add_column("refresh_tokens", sa.Column("used_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("refresh_tokens", "used_at")
    op.drop_column("users", "deleted_at")
