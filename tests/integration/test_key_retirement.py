"""Retiring a signing key in the database (as an operator's SQL does today) reaches every
replica within about a second: the key stops signing at once and verifies only through its
overlap (`retired_at + ACCESS_TOKEN_TTL + clock leeway`); with every key retired, /ready and
login answer 503 and /me keeps verifying the tokens still in their overlap.

Two replicas run on one store (SQLite file and PostgreSQL), as in test_token_cache.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Connection

from auth_backend.errors import PROVIDER_MISCONFIGURED_RETRY_AFTER_SECONDS
from auth_backend.providers.local import LocalProvider
from auth_backend.providers.local.keys import NO_SIGNING_KEY_DETAIL, stored_key_values
from auth_backend.security.tokens import (
    CLOCK_LEEWAY_SECONDS,
    generate_signing_key,
)
from auth_backend.store.schema import signing_keys
from tests.support.accounts import bearer, log_in, new_session, refresh, signed_up
from tests.support.problems import assert_problem
from tests.support.services import make_settings, running_app

TTL = 60  # the shortest ACCESS_TOKEN_TTL the settings allow
OVERLAP = timedelta(seconds=TTL + CLOCK_LEEWAY_SECONDS)
# Replicas poll the store every second; room for a loaded CI machine.
PROPAGATION_SECONDS = 3.0

Replica = tuple[FastAPI, httpx.AsyncClient]


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[list[Replica]]:
    """Two replicas of the service on one store."""
    settings = make_settings(database_url=database_url, access_token_ttl=TTL)
    async with AsyncExitStack() as stack:
        started = await asyncio.gather(
            stack.enter_async_context(running_app(settings)),
            stack.enter_async_context(running_app(settings)),
        )
        yield list(started)


def kid_of(access_token: str) -> str:
    header = access_token.split(".", maxsplit=1)[0]
    kid: str = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    return kid


def provider_of(replica: Replica) -> LocalProvider:
    provider: LocalProvider = replica[0].state.provider
    return provider


def _add_key(connection: Connection, values: dict[str, Any]) -> None:
    connection.execute(signing_keys.insert(), values)


def _retire(connection: Connection, kids: list[str] | None, at: datetime) -> None:
    statement = signing_keys.update().values(retired_at=at)
    if kids is not None:
        statement = statement.where(signing_keys.c.kid.in_(kids))
    connection.execute(statement)


def _unretire_all(connection: Connection) -> None:
    connection.execute(signing_keys.update().values(retired_at=None))


async def add_next_key(replica: Replica) -> str:
    """A newer key, stored as a later rotation would store it; its kid."""
    key = generate_signing_key()
    await provider_of(replica).database.write(_add_key, stored_key_values(key))
    return key.kid or ""


async def retire(replica: Replica, kids: list[str] | None, at: datetime) -> None:
    """Set `retired_at` of the keys `kids` (None: every key), as an operator's UPDATE does."""
    await provider_of(replica).database.write(_retire, kids, at)


async def within(seconds: float, check: Callable[[], Awaitable[bool]]) -> float:
    """Seconds until `check` holds (polled every 0.1 s); fails the test after `seconds`."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not within {seconds} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def me_status(client: httpx.AsyncClient, tokens: dict[str, Any]) -> int:
    return (await client.get("/me", headers=bearer(tokens))).status_code


async def test_a_retired_key_stops_signing_at_once_and_verifies_only_through_its_overlap(
    replicas: list[Replica],
) -> None:
    clients = [client for _app, client in replicas]
    email = await signed_up(clients[0])
    old_tokens = [await new_session(client, email) for client in clients]
    [old_kid] = {kid_of(tokens["access_token"]) for tokens in old_tokens}
    # Cached verifications too: a key change must void them.
    for client in clients:
        for tokens in old_tokens:
            assert await me_status(client, tokens) == 200

    next_kid = await add_next_key(replicas[0])
    await retire(replicas[0], [old_kid], datetime.now(UTC))

    async def every_replica_signs_with_the_next_key() -> bool:
        for client in clients:
            response = await log_in(client, email)
            assert response.status_code == 200, response.text
            if kid_of(response.json()["access_token"]) != next_kid:
                return False
        return True

    await within(PROPAGATION_SECONDS, every_replica_signs_with_the_next_key)
    # In its overlap, the retired key still verifies what it signed, on every replica, and
    # stays published for other verifiers.
    for client in clients:
        for tokens in old_tokens:
            assert await me_status(client, tokens) == 200
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert {key["kid"] for key in jwks["keys"]} == {old_kid, next_kid}

    # Retired long enough ago that 2 s of its overlap are left: the tokens it signed a moment
    # ago are still within their exp, yet must be refused once the overlap is over.
    await retire(replicas[0], [old_kid], datetime.now(UTC) - OVERLAP + timedelta(seconds=2))
    await asyncio.sleep(1.2)  # every replica has seen the new retired_at
    for client in clients:
        for tokens in old_tokens:
            assert await me_status(client, tokens) == 200

    async def every_replica_refuses_the_old_tokens() -> bool:
        statuses = {await me_status(client, tokens) for client in clients for tokens in old_tokens}
        assert statuses <= {200, 401}, statuses
        return statuses == {401}

    await within(2 + PROPAGATION_SECONDS, every_replica_refuses_the_old_tokens)
    response = await clients[1].get("/me", headers=bearer(old_tokens[0]))
    assert_problem(response, 401, "invalid_token")
    for client in clients:
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert {key["kid"] for key in jwks["keys"]} == {next_kid}
        # New tokens are untouched.
        tokens = (await log_in(client, email)).json()
        assert kid_of(tokens["access_token"]) == next_kid
        assert await me_status(client, tokens) == 200


async def test_with_every_key_retired_nothing_signs_and_nothing_is_500(
    replicas: list[Replica],
) -> None:
    clients = [client for _app, client in replicas]
    email = await signed_up(clients[0])
    tokens = [await new_session(client, email) for client in clients]
    await retire(replicas[0], None, datetime.now(UTC))

    async def no_replica_is_ready() -> bool:
        return [(await client.get("/ready")).status_code for client in clients] == [503, 503]

    await within(PROPAGATION_SECONDS, no_replica_is_ready)
    for index, client in enumerate(clients):
        ready = await client.get("/ready")
        body = assert_problem(ready, 503, "provider_misconfigured")
        assert body["detail"] == NO_SIGNING_KEY_DETAIL
        assert ready.headers["retry-after"] == str(PROVIDER_MISCONFIGURED_RETRY_AFTER_SECONDS)
        for response in (
            await log_in(client, email),
            await refresh(client, tokens[index]["refresh_token"]),
        ):
            assert_problem(response, 503, "provider_misconfigured")
            assert response.headers["retry-after"] == str(
                PROVIDER_MISCONFIGURED_RETRY_AFTER_SECONDS
            )
        # Tokens of keys in their overlap keep verifying; nothing is a 500.
        for own in tokens:
            assert await me_status(client, own) == 200
        unknown = await client.get("/me", headers={"Authorization": "Bearer x.y.z"})
        assert unknown.status_code == 401

    # The refused refresh did not consume the refresh token: once a key signs again, it works.
    await provider_of(replicas[0]).database.write(_unretire_all)

    async def every_replica_is_ready() -> bool:
        return [(await client.get("/ready")).status_code for client in clients] == [200, 200]

    await within(PROPAGATION_SECONDS, every_replica_is_ready)
    for index, client in enumerate(clients):
        assert (await refresh(client, tokens[index]["refresh_token"])).status_code == 200
        assert (await log_in(client, email)).status_code == 200


async def test_the_overlap_ends_on_time_even_before_the_replica_re_reads_the_keys(
    replicas: list[Replica],
) -> None:
    replica = replicas[0]
    _app, client = replica
    provider = provider_of(replica)
    tokens = await new_session(client)
    old_kid = kid_of(tokens["access_token"])
    await add_next_key(replica)
    await retire(replica, [old_kid], datetime.now(UTC) - OVERLAP + timedelta(seconds=1.5))
    await provider.keys.refresh()
    assert await me_status(client, tokens) == 200
    # No more polls: only the ring's own clock can end the overlap now.
    await provider._parts.revoked.stop()
    await asyncio.sleep(2)
    response = await client.get("/me", headers=bearer(tokens))
    body = assert_problem(response, 401, "invalid_token")
    assert body["detail"] == "The access token was signed with a retired key."
