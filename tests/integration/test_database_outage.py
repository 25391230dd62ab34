"""The database going away, or hanging, is a 503 with Retry-After on every route that needs it,
never a 500 and never a hung request; the same process recovers when the database returns.
`/ready` answers 200 or 503 only, whatever the provider's check answered.

The outages are real: a private PostgreSQL server (tests/support/private_postgres.py) is
stopped, or frozen with SIGSTOP, in the middle of the test; the Supabase double answers its
faults over real TCP.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auth_backend.errors import PROVIDER_UNAVAILABLE_RETRY_AFTER_SECONDS
from auth_backend.providers.local import LocalProvider
from auth_backend.store.schema import users
from doubles.supabase import SupabaseDouble
from tests.support.accounts import (
    PASSWORD,
    bearer,
    log_in,
    new_session,
    refresh,
    sign_up,
    unique_email,
)
from tests.support.observability import LogLines
from tests.support.private_postgres import PrivatePostgres, private_postgres
from tests.support.problems import assert_problem
from tests.support.services import make_settings, running_app, supabase_settings

pytestmark = pytest.mark.postgres

# Short bounds, so a frozen server costs the test seconds; production defaults are 3 and 5.
CONNECT_TIMEOUT = 1.0
STATEMENT_TIMEOUT = 1.0
# What one operation may take in all (database.py), plus room for a loaded CI machine.
OPERATION_BOUND = CONNECT_TIMEOUT + STATEMENT_TIMEOUT
SLACK = 2.0
HUNG_AFTER = 20.0


@pytest.fixture
def outage_postgres() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


def assert_unavailable(response: httpx.Response) -> None:
    """A 503 provider_unavailable problem that tells the client when to retry."""
    assert_problem(response, 503, "provider_unavailable")
    assert response.headers["retry-after"] == str(PROVIDER_UNAVAILABLE_RETRY_AFTER_SECONDS)


def password_hash_of(connection: Connection, email: str) -> str:
    value: str = connection.execute(
        sa.select(users.c.password_hash).where(users.c.email == email)
    ).scalar_one()
    return value


async def every_database_route(
    client: httpx.AsyncClient, email: str, tokens: dict[str, Any]
) -> dict[str, httpx.Response]:
    """One call of each route that needs the database, by name."""
    return {
        "signup": await sign_up(client, unique_email()),
        "login": await log_in(client, email),
        "refresh": await refresh(client, tokens["refresh_token"]),
        "logout": await client.post("/logout", headers=bearer(tokens)),
        "ready": await client.get("/ready"),
    }


async def test_a_stopped_database_is_503_and_the_same_app_recovers(
    outage_postgres: PrivatePostgres, log_lines: LogLines
) -> None:
    settings = make_settings(
        database_url=outage_postgres.url,
        database_connect_timeout=CONNECT_TIMEOUT,
        database_statement_timeout=STATEMENT_TIMEOUT,
    )
    async with running_app(settings) as (app, client):
        provider: LocalProvider = app.state.provider
        email = unique_email()
        tokens = await new_session(client, email)
        stored_hash = await provider.database.read(password_hash_of, email)

        outage_postgres.stop()
        answers = await every_database_route(client, email, tokens)
        for route, response in answers.items():
            assert response.status_code == 503, f"{route}: {response.status_code} {response.text}"
            assert_unavailable(response)
        # Tokens are verified from memory: the service's callers keep working meanwhile.
        assert (await client.get("/me", headers=bearer(tokens))).status_code == 200

        outage_postgres.start()
        # The same process, no restart: the pool notices its dead connections by itself.
        assert (await client.get("/ready")).status_code == 200
        assert (await log_in(client, email)).status_code == 200
        refreshed = await refresh(client, tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
        assert (await sign_up(client, unique_email())).status_code == 201

    logged = [json.dumps(line) for line in log_lines()]
    warnings = [line for line in log_lines() if "database is unavailable" in line["message"]]
    assert warnings and all(line["level"] == "warning" for line in warnings)
    refresh_hash = hashlib.sha256(tokens["refresh_token"].encode()).hexdigest()
    for secret in (stored_hash, refresh_hash, tokens["refresh_token"], PASSWORD, "$argon2"):
        assert not [line for line in logged if secret in line], f"a log line holds {secret[:8]}…"


async def test_a_hung_database_is_503_within_the_bounds_not_a_hang(
    outage_postgres: PrivatePostgres,
) -> None:
    settings = make_settings(
        database_url=outage_postgres.url,
        database_connect_timeout=CONNECT_TIMEOUT,
        database_statement_timeout=STATEMENT_TIMEOUT,
        # Longer than an operation's bound: the database's own bounds must answer first.
        readiness_timeout=OPERATION_BOUND + SLACK,
    )
    async with running_app(settings) as (_app, client):
        email = unique_email()
        tokens = await new_session(client, email)
        calls: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
            "signup": lambda: sign_up(client, unique_email()),
            "login": lambda: log_in(client, email),
            "refresh": lambda: refresh(client, tokens["refresh_token"]),
            "logout": lambda: client.post("/logout", headers=bearer(tokens)),
            "ready": lambda: client.get("/ready"),
        }
        with outage_postgres.frozen():
            for route, call in calls.items():
                started = time.monotonic()
                try:
                    # Far past the bound: without one, the request would wait for the thaw.
                    async with asyncio.timeout(HUNG_AFTER):
                        response = await call()
                except TimeoutError:
                    pytest.fail(f"{route} hangs with the database: no answer in {HUNG_AFTER} s")
                elapsed = time.monotonic() - started
                assert response.status_code == 503, f"{route}: {response.text}"
                assert_unavailable(response)
                # Login and signup hash a password besides (well under a second).
                assert elapsed < OPERATION_BOUND + SLACK, f"{route} took {elapsed:.1f} s"
        assert (await client.get("/ready")).status_code == 200
        assert (await log_in(client, email)).status_code == 200


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_ready_maps_every_supabase_failure_to_503(
    supabase_double: SupabaseDouble, status: int, log_lines: LogLines
) -> None:
    async with running_app(supabase_settings(supabase_double, supabase_timeout=2.0)) as (
        _app,
        client,
    ):
        supabase_double.set_fault("status", status=status)
        try:
            response = await client.get("/ready", headers={"X-Request-ID": f"ready-{status}"})
        finally:
            supabase_double.clear_fault()
        assert_unavailable(response)
        assert response.headers["cache-control"] == "no-store"
        assert (await client.get("/ready")).status_code == 200
    # The operator still learns what Supabase answered.
    [warning] = [
        line
        for line in log_lines()
        if line.get("request_id") == f"ready-{status}" and line["message"].startswith("not ready")
    ]
    assert warning["level"] == "warning"
    assert "failed its readiness check. (" in warning["message"]
