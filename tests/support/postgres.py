"""PostgreSQL for the tests: a brand-new database per test, dropped afterwards, and the stores
the local provider runs on (SQLite file or PostgreSQL database)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.support.services import service_missing

# The kinds of store the local provider supports, as the `database_url` fixture names them.
SQLITE = "sqlite"
POSTGRES = "postgres"


@dataclass
class PostgresServer:
    admin_url: str

    def _asyncpg_url(self, database: str | None = None) -> str:
        url = self.admin_url.replace("postgresql+asyncpg://", "postgresql://")
        if database is None:
            return url
        base, _, _ = url.rpartition("/")
        return f"{base}/{database}"

    async def create_database(self) -> str:
        name = f"auth_backend_test_{uuid.uuid4().hex[:10]}"
        try:
            connection = await asyncpg.connect(self._asyncpg_url(), timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            service_missing(f"PostgreSQL at TEST_POSTGRES_URL does not answer: {error}")
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return self._asyncpg_url(name)

    async def drop_database(self, url: str) -> None:
        name = url.rpartition("/")[2]
        connection = await asyncpg.connect(self._asyncpg_url())
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    @asynccontextmanager
    async def database(self) -> AsyncIterator[str]:
        """A brand-new, empty database (its URL), dropped afterwards."""
        url = await self.create_database()
        try:
            yield url
        finally:
            await self.drop_database(url)


def postgres_from_environment() -> PostgresServer:
    """The server in TEST_POSTGRES_URL; skipped (failed in CI) when it is not set."""
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        service_missing("TEST_POSTGRES_URL is not set")
    return PostgresServer(admin_url=str(url))


@asynccontextmanager
async def fresh_store(
    kind: str, tmp_path: Path, postgres: Callable[[], PostgresServer]
) -> AsyncIterator[str]:
    """The URL of a fresh, empty store of `kind` (SQLITE or POSTGRES). `postgres` gives the
    server, only asked for when a PostgreSQL store is wanted."""
    if kind == SQLITE:
        yield f"sqlite:///{tmp_path / 'auth.db'}"
        return
    if kind != POSTGRES:
        raise ValueError(f"unknown store kind {kind!r}")
    async with postgres().database() as url:
        yield url
