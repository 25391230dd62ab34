"""Shared fixtures, composed from tests/support: services (in-process apps on each store), real
server processes, databases, logs. The Supabase and SMTP doubles' fixtures come from their
plugins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest

from doubles.supabase import SupabaseDouble
from tests.support.observability import LogLines, captured_log_lines
from tests.support.postgres import (
    POSTGRES,
    SQLITE,
    PostgresServer,
    fresh_store,
    postgres_from_environment,
)
from tests.support.selection import mark_by_resources
from tests.support.services import (
    LiveServer,
    make_settings,
    redis_from_environment,
    running_app,
    start_server,
    stop_server,
    supabase_settings,
)

pytest_plugins = ["doubles.supabase.pytest_plugin", "doubles.smtp.pytest_plugin", "pytester"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`supabase` and `slow` markers from what each test uses (tests/support/selection.py)."""
    mark_by_resources(items)


# --- PostgreSQL and Redis -------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    return postgres_from_environment()


@pytest.fixture
async def postgres_database(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A brand-new, empty database, dropped afterwards."""
    async with postgres_server.database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server in TEST_REDIS_URL (CI: redis://127.0.0.1:6379/0)."""
    return redis_from_environment()


# --- in-process services ------------------------------------------------------------------

STORES = [SQLITE, pytest.param(POSTGRES, marks=pytest.mark.postgres)]


def _store(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> AbstractAsyncContextManager[str]:
    """A fresh store of `kind`; the PostgreSQL server fixture is asked for only when needed."""
    return fresh_store(kind, tmp_path, lambda: request.getfixturevalue("postgres_server"))


@pytest.fixture(params=STORES)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty store of each kind the local provider supports."""
    async with _store(request, request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def local_service(
    request: pytest.FixtureRequest, database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The service on the local provider over HTTP (in-process ASGI), once per store; without
    a refresh-token reuse interval, as `service` (see there)."""
    settings = make_settings(database_url=database_url, refresh_token_reuse_interval=0)
    async with running_app(settings, request=request) as (_app, client):
        yield client


PROVIDERS = ["local-sqlite", pytest.param("local-postgres", marks=pytest.mark.postgres), "supabase"]


@pytest.fixture(params=PROVIDERS)
async def service(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The service over HTTP (in-process ASGI), once per provider (and per store for local).

    The behavioural suite runs on this fixture: both providers must pass it unchanged; a test
    marked `requires_capability` is skipped on a provider that does not declare it."""
    if request.param == "supabase":
        double: SupabaseDouble = request.getfixturevalue("supabase_double")
        async with running_app(supabase_settings(double), request=request) as (_app, client):
            yield client
        return
    kind = SQLITE if request.param == "local-sqlite" else POSTGRES
    # No refresh-token reuse interval, as on the Supabase double (and Supabase's own server
    # default), so the suite shows reuse detection at once on both providers;
    # tests/integration/test_refresh_reuse_interval.py covers the interval itself.
    async with (
        _store(request, kind, tmp_path) as url,
        running_app(
            make_settings(database_url=url, refresh_token_reuse_interval=0), request=request
        ) as (_app, client),
    ):
        yield client


# --- real server processes ------------------------------------------------------------------


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`python -m auth_backend` as a real process on a fresh SQLite file."""
    workdir = tmp_path_factory.mktemp("live")
    server = start_server(
        {"DATABASE_URL": f"sqlite:///{workdir / 'auth.db'}"}, workdir / "server.log"
    )
    yield server
    stop_server(server)


# --- logs ------------------------------------------------------------------------------------


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """Everything logged in-process at DEBUG and above, as the JSON lines a container writes."""
    with captured_log_lines() as lines:
        yield lines
