"""Concurrent guesses against one account: the per-account limits are reserved atomically before
the password is verified, so at most the limit's worth of guesses is ever verified, and a
successful login gives its reservation back. On each provider, in memory and on a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from auth_backend.errors import RateLimited
from auth_backend.security.throttling import Reservation, Rule, Throttle, storage_for
from tests.support.accounts import log_in, signed_up, unique_email
from tests.support.throttling import (
    INVALID,
    LIMITED,
    PROVIDERS,
    fresh_ip,
    fresh_ips,
    from_ip,
    outcomes,
    sign_in_calls,
    throttled_service,
)

GUESSES = 50
WRONG = "wrong password!"
STORAGES = ["memory", "redis"]


@pytest.fixture(params=STORAGES)
def storage(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings for limits in memory, or on the Redis of TEST_REDIS_URL."""
    if request.param == "memory":
        return {}
    # A generous timeout: these tests are about atomicity; a burst on a busy machine must not
    # push the limits into the per-replica fallback (tests/integration/test_redis_outage.py).
    return {"redis_url": request.getfixturevalue("redis_url"), "redis_timeout": "5"}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_concurrent_guesses_from_one_ip_are_verified_at_most_the_limit(
    request: pytest.FixtureRequest, tmp_path: Path, provider: str, storage: dict[str, str]
) -> None:
    async with throttled_service(
        request, tmp_path, provider, throttle_login_per_account="10/minute", **storage
    ) as (_app, client):
        email = await signed_up(client)
        attacker = fresh_ip()
        calls_before = await sign_in_calls(client)
        answers = await asyncio.gather(
            *(log_in(client, email, WRONG, **from_ip(attacker)) for _ in range(GUESSES))
        )
        assert outcomes(answers) == {INVALID: 10, LIMITED: GUESSES - 10}
        assert await sign_in_calls(client) - calls_before == 10
        # Even the right password waits there; the owner elsewhere is not affected, and their
        # successful logins are refunded: they never eat into the account's budget.
        assert outcomes([await log_in(client, email, **from_ip(attacker))]) == {LIMITED: 1}
        owner = fresh_ip()
        for _ in range(12):
            assert (await log_in(client, email, **from_ip(owner))).status_code == 200
        assert await sign_in_calls(client) - calls_before == 22


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_concurrent_guesses_from_many_ips_are_verified_at_most_the_ceiling(
    request: pytest.FixtureRequest, tmp_path: Path, provider: str, storage: dict[str, str]
) -> None:
    async with throttled_service(
        request, tmp_path, provider, throttle_login_per_account_ceiling="10/hour", **storage
    ) as (_app, client):
        email = await signed_up(client)
        # Successful logins before the attack do not count against the ceiling.
        for ip in fresh_ips(5):
            assert (await log_in(client, email, **from_ip(ip))).status_code == 200
        calls_before = await sign_in_calls(client)
        answers = await asyncio.gather(
            *(log_in(client, email, WRONG, **from_ip(ip)) for ip in fresh_ips(GUESSES))
        )
        assert outcomes(answers) == {INVALID: 10, LIMITED: GUESSES - 10}
        assert await sign_in_calls(client) - calls_before == 10
        # The ceiling holds for the right password too, from anywhere, while the window lasts.
        assert outcomes([await log_in(client, email, **from_ip(fresh_ip()))]) == {LIMITED: 1}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_successful_login_gives_its_reservation_back(
    request: pytest.FixtureRequest, tmp_path: Path, provider: str, storage: dict[str, str]
) -> None:
    async with throttled_service(
        request,
        tmp_path,
        provider,
        throttle_login_per_account="3/minute",
        throttle_login_per_account_ceiling="3/minute",
        **storage,
    ) as (_app, client):
        email = await signed_up(client)
        ip = fresh_ip()
        assert (await log_in(client, email, WRONG, **from_ip(ip))).status_code == 401
        assert (await log_in(client, email, WRONG, **from_ip(ip))).status_code == 401
        # Concurrent right passwords: each holds a slot while it is verified, then returns it.
        for _ in range(3):
            answers = await asyncio.gather(
                *(log_in(client, email, **from_ip(ip)) for _ in range(3))
            )
            assert 200 in [answer.status_code for answer in answers]
        for _ in range(3):
            assert (await log_in(client, email, **from_ip(ip))).status_code == 200
        # Two failures are still all that is counted: one more wrong guess is verified.
        assert (await log_in(client, email, WRONG, **from_ip(ip))).status_code == 401
        assert outcomes([await log_in(client, email, WRONG, **from_ip(ip))]) == {LIMITED: 1}


def rules(rate: str) -> dict[Rule, str]:
    return dict.fromkeys(Rule, rate)


async def test_refunds_remove_the_reserved_event_from_redis(redis_url: str) -> None:
    """Against limits' own key format: the reservation's event is the one that goes."""
    throttle = Throttle(storage_for(redis_url), rules("5/minute"))
    account = unique_email()
    key = f"LIMITS:LIMITER/auth-backend/login-account/{account}/5/1/minute"
    connection = aioredis.Redis.from_url(redis_url)
    try:
        first = await throttle.reserve(Rule.LOGIN_PER_ACCOUNT_CEILING, account)
        await asyncio.sleep(0.01)
        second = await throttle.reserve(Rule.LOGIN_PER_ACCOUNT_CEILING, account)
        await asyncio.sleep(0.01)
        third = await throttle.reserve(Rule.LOGIN_PER_ACCOUNT_CEILING, account)
        assert await connection.llen(key) == 3
        await throttle.refund(second)
        remaining = [float(entry) for entry in await connection.lrange(key, 0, -1)]
        assert len(remaining) == 2
        assert third.started <= remaining[0] <= third.finished
        assert first.started <= remaining[1] <= first.finished
        await throttle.refund(first, third)
        assert await connection.llen(key) == 0
    finally:
        await connection.delete(key)
        await connection.aclose()


async def test_refunds_remove_the_reserved_event_from_memory() -> None:
    throttle = Throttle(storage_for(None), rules("5/minute"))
    account = unique_email()
    reservations: list[Reservation] = []
    for _ in range(5):
        reservations.append(await throttle.reserve(Rule.LOGIN_PER_ACCOUNT_CEILING, account))
        await asyncio.sleep(0.01)
    await throttle.refund(reservations[2])
    # One slot free again: exactly one more reservation fits.
    await throttle.reserve(Rule.LOGIN_PER_ACCOUNT_CEILING, account)
    with pytest.raises(RateLimited):
        await throttle.reserve(Rule.LOGIN_PER_ACCOUNT_CEILING, account)


async def test_a_refund_of_an_expired_window_takes_nothing_else(redis_url: str) -> None:
    # A refund matches the reservation's own time span, never a later attempt's event.
    throttle = Throttle(storage_for(redis_url), rules("5/minute"))
    account = f"{uuid.uuid4().hex}@example.com"
    old = await throttle.reserve(Rule.LOGIN_PER_ACCOUNT_CEILING, account)
    stale = type(old)(old.storage, old.key, old.started - 100, old.started - 50)
    await throttle.refund(stale)
    connection = aioredis.Redis.from_url(redis_url)
    try:
        key = f"LIMITS:{old.key}"
        assert await connection.llen(key) == 1
    finally:
        await connection.delete(f"LIMITS:{old.key}")
        await connection.aclose()
