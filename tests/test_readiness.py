"""GET /ready: 200 while the store answers, 503 naming what failed when it does not or hangs.

The failures are real: the SQLite file is replaced by a directory, the PostgreSQL database is
dropped, or the network path to PostgreSQL stops carrying bytes (a loopback TCP proxy).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from auth_backend.providers.local import LocalProvider
from doubles.supabase import SupabaseDouble
from tests.support.observability import LogLines
from tests.support.postgres import PostgresServer
from tests.support.problems import assert_problem
from tests.support.services import make_settings, running_app, supabase_settings


async def test_ready_when_the_store_answers(local_service: httpx.AsyncClient) -> None:
    response = await local_service.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "provider": "local"}
    assert response.headers["cache-control"] == "no-store"


async def test_ready_follows_supabase(supabase_double: SupabaseDouble) -> None:
    async with running_app(supabase_settings(supabase_double, supabase_timeout=1.0)) as (
        _app,
        client,
    ):
        ready = await client.get("/ready")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "provider": "supabase"}
        supabase_double.set_fault("drop")
        assert_problem(await client.get("/ready"), 503, "provider_unavailable")
        supabase_double.clear_fault()
        # Liveness does not depend on Supabase.
        supabase_double.set_fault("drop")
        assert (await client.get("/health")).status_code == 200
    bad_key = supabase_settings(supabase_double, supabase_service_key="sb_secret_rejected")
    supabase_double.clear_fault()
    async with running_app(bad_key) as (_app, client):
        assert_problem(await client.get("/ready"), 503, "provider_misconfigured")


async def break_store(
    provider: LocalProvider, database_url: str, request: pytest.FixtureRequest
) -> None:
    """Make the store unreachable the way it happens in production, per kind of store."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        await provider.database.dispose()
        database = Path(str(url.database))
        for leftover in database.parent.glob(database.name + "*"):
            leftover.unlink()
        # A directory where the file was: every new connection fails to open it.
        database.mkdir()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    await server.drop_database(database_url)


async def test_not_ready_when_the_store_is_gone(
    database_url: str, request: pytest.FixtureRequest, log_lines: LogLines
) -> None:
    # No outbox worker: its polls would be a second user of the pool while the test breaks
    # the store, and a connection it holds open would still reach the unlinked SQLite file.
    settings = make_settings(database_url=database_url, outbox_workers=0)
    async with running_app(settings) as (app, client):
        await break_store(app.state.provider, database_url, request)
        response = await client.get("/ready", headers={"X-Request-ID": "ready-probe-7"})
        body = assert_problem(response, 503, "provider_unavailable")
        assert body["detail"] == "The user database does not answer."
        assert response.headers["cache-control"] == "no-store"
        # Liveness is not readiness: the process itself is fine.
        assert (await client.get("/health")).status_code == 200
    [warning] = [line for line in log_lines() if line["message"].startswith("not ready")]
    assert warning["level"] == "warning"
    # The log line written while serving the request carries its id, and says why.
    assert warning["request_id"] == "ready-probe-7"
    assert "The user database does not answer. (" in warning["message"]


class StallingProxy:
    """A loopback TCP proxy that can stop carrying bytes without closing anything."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> StallingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        for source, target in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(source, target))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await self.flowing.wait()
                target.write(data)
                await target.drain()
        finally:
            target.close()


@pytest.fixture
async def stalling_postgres(
    postgres_database: str,
) -> AsyncIterator[tuple[StallingProxy, str]]:
    """A fresh PostgreSQL database reached through a StallingProxy, and the URL to use."""
    url = make_url(postgres_database)
    async with StallingProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)


@pytest.mark.postgres
async def test_a_hanging_store_is_not_ready_within_the_timeout(
    stalling_postgres: tuple[StallingProxy, str],
) -> None:
    proxy, database_url = stalling_postgres
    settings = make_settings(database_url=database_url, readiness_timeout=0.5)
    async with running_app(settings) as (_app, client):
        assert (await client.get("/ready")).status_code == 200
        proxy.flowing.clear()
        started = time.monotonic()
        response = await client.get("/ready")
        elapsed = time.monotonic() - started
        body = assert_problem(response, 503, "provider_unavailable")
        assert body["detail"] == "The local identity provider did not answer within 0.5 seconds."
        assert 0.5 <= elapsed < 5
        proxy.flowing.set()
        # Once the network carries bytes again, so does the service.
        assert (await client.get("/ready")).status_code == 200
