"""Shared fixtures: services (in-process apps on each store), real server processes, databases."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from auth_backend.main import create_app
from auth_backend.observability.logging import JsonFormatter
from auth_backend.settings import Settings
from doubles.supabase import SupabaseDouble
from scripts.service_process import free_port, start_service, stop_process

pytest_plugins = ["doubles.supabase.pytest_plugin"]

ROOT = Path(__file__).resolve().parents[1]
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def service_missing(reason: str) -> None:
    """Skip on a laptop without the service; fail in CI, where REQUIRE_SERVICES=1."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(reason)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


# --- PostgreSQL -------------------------------------------------------------------------


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


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        service_missing("TEST_POSTGRES_URL is not set")
    return PostgresServer(admin_url=str(url))


@pytest.fixture
async def postgres_database(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A brand-new, empty database, dropped afterwards."""
    url = await postgres_server.create_database()
    try:
        yield url
    finally:
        await postgres_server.drop_database(url)


# --- Redis ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server in TEST_REDIS_URL (CI: redis://127.0.0.1:6379/0)."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        service_missing("TEST_REDIS_URL is not set")
    try:
        host_port = str(url).split("://", 1)[1].split("/", 1)[0]
        host, _, port = host_port.rpartition(":")
        with socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=3):
            pass
    except OSError as error:
        service_missing(f"Redis at TEST_REDIS_URL does not answer: {error}")
    return str(url)


# --- in-process services ------------------------------------------------------------------


def make_settings(**overrides: Any) -> Settings:
    # _env_file=None: a developer's own .env must not change what the tests exercise.
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]


@asynccontextmanager
async def running_app(
    settings: Settings, client_ip: str = "203.0.113.7"
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty store of each kind the local provider supports."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'auth.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = await server.create_database()
    try:
        yield url
    finally:
        await server.drop_database(url)


def supabase_settings(double: SupabaseDouble, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "supabase_url": double.base_url,
        "supabase_service_key": double.service_key,
        "supabase_anon_key": double.anon_key,
    }
    return make_settings(**{**values, **overrides})


@pytest.fixture
async def local_service(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The service on the local provider over HTTP (in-process ASGI), once per store."""
    async with running_app(make_settings(database_url=database_url)) as (_app, client):
        yield client


PROVIDERS = ["local-sqlite", pytest.param("local-postgres", marks=pytest.mark.postgres), "supabase"]


@pytest.fixture(params=PROVIDERS)
async def service(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The service over HTTP (in-process ASGI), once per provider (and per store for local).

    The behavioural suite runs on this fixture: both providers must pass it unchanged."""
    if request.param == "supabase":
        double: SupabaseDouble = request.getfixturevalue("supabase_double")
        async with running_app(supabase_settings(double)) as (_app, client):
            yield client
        return
    if request.param == "local-sqlite":
        async with running_app(make_settings(database_url=f"sqlite:///{tmp_path / 'auth.db'}")) as (
            _app,
            client,
        ):
            yield client
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = await server.create_database()
    try:
        async with running_app(make_settings(database_url=url)) as (_app, client):
            yield client
    finally:
        await server.drop_database(url)


# --- real server processes ------------------------------------------------------------------


@dataclass
class LiveServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start_server(env: dict[str, str], log_path: Path, timeout: float = 30.0) -> LiveServer:
    port = free_port()
    process = start_service(
        {**os.environ, "LOG_LEVEL": "info", **env},
        port=port,
        cwd=log_path.parent,
        log_path=log_path,
        timeout=timeout,
    )
    return LiveServer(f"http://127.0.0.1:{port}", process, log_path)


def stop_server(server: LiveServer) -> None:
    stop_process(server.process)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`python -m auth_backend` as a real process on a fresh SQLite file."""
    workdir = tmp_path_factory.mktemp("live")
    server = start_server(
        {"DATABASE_URL": f"sqlite:///{workdir / 'auth.db'}"}, workdir / "server.log"
    )
    yield server
    stop_server(server)


# --- logs and metrics -----------------------------------------------------------------------

LogLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """Everything logged in-process at DEBUG and above, as the JSON lines a container writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)


def metric_sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from a Prometheus text exposition; 0 when it is absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0
