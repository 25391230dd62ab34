"""Redis refusing or hanging: limits fall back to each replica's memory (the same rules), logged
once each way and exposed as a metric, and return to Redis when it answers again. Against a
private redis-server process that the tests stop, SIGSTOP and start again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_backend.security.throttling import Throttle
from tests.support.accounts import log_in, signed_up, unique_email
from tests.support.observability import metric_sample
from tests.support.redis_server import PrivateRedis, private_redis
from tests.support.services import make_settings, running_app
from tests.support.throttling import INVALID, LIMITED, PROXY, fresh_ip, from_ip, outcomes

WRONG = "wrong password!"
THROTTLE_LOGGER = "auth_backend.security.throttling"
FALLBACK_GAUGE = "auth_backend_rate_limit_storage_fallback"
FALLBACKS = "auth_backend_rate_limit_storage_fallbacks_total"
# Each login must answer well within this while Redis hangs (the timeout is 0.5 s).
FAST_ENOUGH = 2.0


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    with private_redis(tmp_path) as server:
        yield server


@asynccontextmanager
async def replicas(
    tmp_path: Path, server: PrivateRedis, count: int = 1, **overrides: Any
) -> AsyncIterator[list[tuple[FastAPI, httpx.AsyncClient]]]:
    """`count` app instances on one store and the private Redis, behind a trusted proxy."""
    settings = make_settings(
        database_url=f"sqlite:///{tmp_path / 'auth.db'}",
        redis_url=server.url,
        redis_probe_interval="0.5",
        trusted_proxies="10.0.0.0/8",
        **overrides,
    )
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(running_app(settings, client_ip=PROXY))
            for _ in range(count)
        ]


def throttle_of(app: FastAPI) -> Throttle:
    throttle: Throttle = app.state.throttle
    return throttle


async def metric(client: httpx.AsyncClient, name: str) -> float:
    return metric_sample((await client.get("/metrics")).text, name)


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == THROTTLE_LOGGER and record.levelno == level
    ]


async def timed_guesses(
    client: httpx.AsyncClient, email: str, ip: str, count: int
) -> tuple[list[httpx.Response], float]:
    """`count` wrong guesses one after another; the answers and the slowest one's time."""
    answers: list[httpx.Response] = []
    slowest = 0.0
    for _ in range(count):
        started = time.monotonic()
        answers.append(await log_in(client, email, WRONG, **from_ip(ip)))
        slowest = max(slowest, time.monotonic() - started)
    return answers, slowest


async def test_a_stopped_redis_falls_back_to_limits_per_replica(
    tmp_path: Path, redis_server: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    async with replicas(tmp_path, redis_server) as [(app, client)]:
        email = await signed_up(client)
        attacker = fresh_ip()
        fallbacks_before = await metric(client, FALLBACKS)
        assert (await log_in(client, email, WRONG, **from_ip(attacker))).status_code == 401
        assert not throttle_of(app).degraded
        redis_server.stop()
        with caplog.at_level(logging.INFO, logger=THROTTLE_LOGGER):
            answers, _slowest = await timed_guesses(client, email, attacker, 15)
            # This replica's memory starts afresh: the strict 10 per 10 minutes again, no more.
            assert outcomes(answers) == {INVALID: 10, LIMITED: 5}
            assert outcomes([await log_in(client, email, **from_ip(attacker))]) == {LIMITED: 1}
        assert throttle_of(app).degraded
        failures = messages(caplog, logging.ERROR)
        assert len(failures) == 1, failures
        assert "rate-limit storage failed" in failures[0]
        assert await metric(client, FALLBACK_GAUGE) == 1
        assert await metric(client, FALLBACKS) == fallbacks_before + 1


async def test_a_hung_redis_keeps_logins_fast_and_limited(
    tmp_path: Path, redis_server: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    async with replicas(tmp_path, redis_server) as [(app, client)]:
        email = await signed_up(client)
        attacker = fresh_ip()
        assert (await log_in(client, email, WRONG, **from_ip(attacker))).status_code == 401
        redis_server.hang()
        try:
            with caplog.at_level(logging.INFO, logger=THROTTLE_LOGGER):
                started = time.monotonic()
                answers, slowest = await timed_guesses(client, email, attacker, 15)
                right = await log_in(client, email, **from_ip(attacker))
                elapsed = time.monotonic() - started
            assert outcomes(answers) == {INVALID: 10, LIMITED: 5}
            assert outcomes([right]) == {LIMITED: 1}
            assert slowest < FAST_ENOUGH, slowest
            assert elapsed < 16 * FAST_ENOUGH / 2, elapsed
            assert throttle_of(app).degraded
            assert len(messages(caplog, logging.ERROR)) == 1
            assert await metric(client, FALLBACK_GAUGE) == 1
        finally:
            redis_server.resume()


async def until_shared_again(apps: list[tuple[FastAPI, httpx.AsyncClient]]) -> None:
    """Requests (which schedule the background probe) until every replica uses Redis again."""
    deadline = time.monotonic() + 15
    while any(throttle_of(app).degraded for app, _client in apps):
        assert time.monotonic() < deadline, "the throttle did not return to Redis"
        for _app, client in apps:
            await log_in(client, unique_email(), WRONG, **from_ip(fresh_ip()))
        await asyncio.sleep(0.2)


async def test_limits_return_to_redis_when_it_answers_again(
    tmp_path: Path, redis_server: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    async with replicas(tmp_path, redis_server, count=2, throttle_login_per_ip="3/minute") as apps:
        (_first_app, first), (_second_app, second) = apps
        redis_server.stop()
        for _app, client in apps:
            assert (
                await log_in(client, unique_email(), WRONG, **from_ip(fresh_ip()))
            ).status_code == 401
        assert all(throttle_of(app).degraded for app, _client in apps)
        with caplog.at_level(logging.INFO, logger=THROTTLE_LOGGER):
            redis_server.start()
            await until_shared_again(apps)
        assert len(messages(caplog, logging.WARNING)) == 2  # one "answers again" per replica
        assert await metric(first, FALLBACK_GAUGE) == 0
        # The two replicas count one client together again.
        ip = fresh_ip()
        statuses = [
            (await log_in(client, unique_email(), WRONG, **from_ip(ip))).status_code
            for client in (first, second, first, second, first)
        ]
        assert statuses == [401, 401, 401, 429, 429]
