"""The service under test: settings, the app in-process over ASGI, the Supabase provider's
settings against the double, real server processes, and the services the tests need
(PostgreSQL, Redis) being missing."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from fastapi import FastAPI

from auth_backend.main import create_app
from auth_backend.settings import Settings
from doubles.supabase import SupabaseDouble
from scripts.service_process import free_port, start_service, stop_process
from tests.support.capabilities import skip_unless_offered

ROOT = Path(__file__).resolve().parents[2]
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def service_missing(reason: str) -> NoReturn:
    """Skip on a laptop without the service; fail in CI, where REQUIRE_SERVICES=1."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(reason)


def redis_from_environment() -> str:
    """The Redis server in TEST_REDIS_URL (CI: redis://127.0.0.1:6379/0), once it answers."""
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


# In-process clients speak from 203.0.113.7 (running_app), a documentation address standing
# for a public client, and read /metrics and the docs pages as operators do. The allow-list of
# those endpoints is tested on its own (tests/integration/test_operational_surface.py), which
# passes OPERATIONS_ALLOWED_NETWORKS explicitly.
ALL_NETWORKS = "0.0.0.0/0,::/0"


def make_settings(**overrides: Any) -> Settings:
    # _env_file=None: a developer's own .env must not change what the tests exercise.
    values: dict[str, Any] = {"operations_allowed_networks": ALL_NETWORKS, **overrides}
    return Settings(_env_file=None, **values)


@asynccontextmanager
async def running_app(
    settings: Settings,
    client_ip: str = "203.0.113.7",
    request: pytest.FixtureRequest | None = None,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app, started (lifespan), with an HTTP client over ASGI from `client_ip`.

    Fixtures pass their `request`: the test is then skipped, before the app starts, when its
    provider lacks a capability the test's `requires_capability` markers name."""
    app = create_app(settings)
    if request is not None:
        skip_unless_offered(request.node, app)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


def supabase_settings(double: SupabaseDouble, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "supabase_url": double.base_url,
        "supabase_service_key": double.service_key,
        "supabase_anon_key": double.anon_key,
    }
    return make_settings(**{**values, **overrides})


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
