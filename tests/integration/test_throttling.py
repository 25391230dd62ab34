"""Throttling: per IP and per account, 429 with Retry-After, shared through Redis."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request

from auth_backend.api.client_ip import client_ip
from tests.support.accounts import PASSWORD, log_in, unique_email
from tests.support.problems import problem_code
from tests.support.services import make_settings, running_app, supabase_settings


@asynccontextmanager
async def throttled(
    tmp_path: Any, client_ip: str = "198.51.100.10", **limits: Any
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=f"sqlite:///{tmp_path / 'auth.db'}", **limits)
    async with running_app(settings, client_ip=client_ip) as (_app, client):
        yield client


def assert_throttled(response: httpx.Response) -> None:
    assert problem_code(response) == (429, "rate_limited")
    assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_login_is_limited_per_ip(tmp_path: Any) -> None:
    async with throttled(tmp_path, throttle_login_per_ip="3/minute") as client:
        statuses = [(await log_in(client, unique_email())).status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        assert_throttled(await log_in(client, unique_email()))


async def test_failed_logins_are_limited_per_account_whether_it_exists_or_not(
    tmp_path: Any,
) -> None:
    async with throttled(tmp_path, throttle_login_per_account="2/minute") as client:
        existing = unique_email()
        assert (
            await client.post("/signup", json={"email": existing, "password": PASSWORD})
        ).status_code == 201
        for email in (existing, unique_email("ghost")):
            outcomes = [
                (await log_in(client, email, "wrong password!")).status_code for _ in range(3)
            ]
            assert outcomes == [401, 401, 429]
        # Now even the right password waits: the attacker cannot tell it was right.
        assert_throttled(await log_in(client, existing))


async def test_successful_logins_do_not_count_against_the_account(tmp_path: Any) -> None:
    async with throttled(tmp_path, throttle_login_per_account="2/minute") as client:
        email = unique_email()
        await client.post("/signup", json={"email": email, "password": PASSWORD})
        for _ in range(5):
            assert (await log_in(client, email)).status_code == 200


async def test_signup_is_limited_per_ip(tmp_path: Any) -> None:
    async with throttled(tmp_path, throttle_signup_per_ip="2/minute") as client:
        for _ in range(2):
            assert (
                await client.post("/signup", json={"email": unique_email(), "password": PASSWORD})
            ).status_code == 201
        assert_throttled(
            await client.post("/signup", json={"email": unique_email(), "password": PASSWORD})
        )


async def test_refresh_is_limited_per_ip(tmp_path: Any) -> None:
    async with throttled(tmp_path, throttle_refresh_per_ip="2/minute") as client:
        for _ in range(2):
            assert (
                await client.post("/refresh", json={"refresh_token": "nope"})
            ).status_code == 401
        assert_throttled(await client.post("/refresh", json={"refresh_token": "nope"}))


async def test_forwarded_for_is_ignored_from_untrusted_peers(tmp_path: Any) -> None:
    async with throttled(tmp_path, throttle_login_per_ip="2/minute") as client:
        for i in range(2):
            await log_in(client, unique_email(), **{"X-Forwarded-For": f"192.0.2.{i}"})
        # Spoofing a new address does not buy more attempts.
        assert_throttled(await log_in(client, unique_email(), **{"X-Forwarded-For": "192.0.2.99"}))


async def test_forwarded_for_is_believed_from_trusted_proxies(tmp_path: Any) -> None:
    async with throttled(
        tmp_path,
        client_ip="10.0.0.5",
        throttle_login_per_ip="2/minute",
        trusted_proxies="10.0.0.0/8",
    ) as client:
        for _ in range(2):
            await log_in(client, unique_email(), **{"X-Forwarded-For": "192.0.2.1"})
        assert_throttled(await log_in(client, unique_email(), **{"X-Forwarded-For": "192.0.2.1"}))
        # Another user behind the same proxy is not affected.
        assert (
            await log_in(client, unique_email(), **{"X-Forwarded-For": "192.0.2.2"})
        ).status_code == 401


def make_request(peer: str, forwarded: str | None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "headers": headers, "client": (peer, 1234)})


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.1", "192.0.2.1", "203.0.113.1"),  # untrusted peer: header ignored
        ("10.0.0.1", None, "10.0.0.1"),
        ("10.0.0.1", "192.0.2.1", "192.0.2.1"),
        ("10.0.0.1", "192.0.2.66, 192.0.2.1", "192.0.2.1"),  # rightmost untrusted hop
        ("10.0.0.1", "192.0.2.1, 10.0.0.7", "192.0.2.1"),  # skips trusted hops
        ("10.0.0.1", "garbage", "10.0.0.1"),
        ("10.0.0.1", "10.0.0.2, 10.0.0.3", "10.0.0.2"),  # all trusted: the leftmost
    ],
)
def test_client_ip_resolution(peer: str, forwarded: str | None, expected: str) -> None:
    trusted = make_settings(trusted_proxies="10.0.0.0/8").trusted_proxies
    assert client_ip(make_request(peer, forwarded), trusted) == expected


async def test_limits_are_shared_by_replicas_through_redis(tmp_path: Any, redis_url: str) -> None:
    ip = f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"  # unique per run
    settings = make_settings(
        database_url=f"sqlite:///{tmp_path / 'auth.db'}",
        redis_url=redis_url,
        throttle_login_per_ip="3/minute",
    )
    async with AsyncExitStack() as stack:
        apps: list[tuple[FastAPI, httpx.AsyncClient]] = [
            await stack.enter_async_context(running_app(settings, client_ip=ip)) for _ in range(2)
        ]
        (_, first), (_, second) = apps
        assert (await log_in(first, unique_email())).status_code == 401
        assert (await log_in(second, unique_email())).status_code == 401
        assert (await log_in(first, unique_email())).status_code == 401
        assert_throttled(await log_in(second, unique_email()))
        assert_throttled(await log_in(first, unique_email()))


async def test_a_redis_outage_lets_logins_through_and_is_logged(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        database_url=f"sqlite:///{tmp_path / 'auth.db'}", redis_url="redis://127.0.0.1:9/0"
    )
    with caplog.at_level(logging.ERROR):
        async with running_app(settings) as (_app, client):
            email = unique_email()
            assert (
                await client.post("/signup", json={"email": email, "password": PASSWORD})
            ).status_code == 201
            assert (await log_in(client, email)).status_code == 200
    assert "rate-limit storage failed" in caplog.text


async def test_supabase_logins_are_throttled_before_supabase_is_called(
    supabase_double: Any,
) -> None:
    settings = supabase_settings(supabase_double, throttle_login_per_account="1/minute")
    async with running_app(settings) as (_app, client):
        email = unique_email()
        assert (await log_in(client, email, "wrong password!")).status_code == 401
        assert_throttled(await log_in(client, email, "wrong password!"))
    assert supabase_double.stats()["requests"]["/auth/v1/token"] == 1
