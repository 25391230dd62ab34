"""Bringing a database to the schema of `schema.py`: Alembic, run at start-up under a lock.

This package is also Alembic's script location (`env.py`, `versions/`).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auth_backend.store.database import Database

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = "auth_backend.store:migrations"
# Any constant works; it only has to be the same for every replica that migrates.
_MIGRATION_LOCK_ID = 0x6175_7468  # "auth"
_VERSIONS = Path(__file__).resolve().parent / "versions"
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


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config  # noqa: PLC0415 (see migrate)

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Replicas starting together must not run the same migration twice.
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
    from alembic import command  # noqa: PLC0415 (see migrate)

    command.upgrade(alembic_config(connection), "head")


async def migrate(database: Database) -> None:
    """Bring the schema to the latest revision; safe when several processes start at once.

    A restart finds the schema current: one query says so, and Alembic (about a quarter of
    the service's start-up in imports alone, bench/RESULTS.md) is neither imported nor run.
    """
    if await _at_head(database):
        return
    await database.write_exclusive(_upgrade)
