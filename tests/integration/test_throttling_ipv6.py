"""Per-IP limits bucket IPv6 clients per network (THROTTLE_IPV6_PREFIX, /64 by default) and
IPv4 clients per address; the audit log still records the full address."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from auth_backend.security.throttling import ip_bucket
from tests.support.accounts import log_in, signed_up, unique_email
from tests.support.throttling import LIMITED, from_ip, outcomes, throttled_service

WRONG = "wrong password!"


async def test_addresses_in_one_64_share_a_budget_and_other_networks_do_not(
    request: pytest.FixtureRequest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with throttled_service(
        request, tmp_path, "local-sqlite", throttle_login_per_ip="2/minute"
    ) as (_app, client):
        with caplog.at_level(logging.INFO, logger="auth_backend.audit"):
            assert (
                await log_in(client, unique_email(), **from_ip("2001:db8:1:2::1"))
            ).status_code == 401
            neighbour = "2001:db8:1:2:ffff:ffff:ffff:fffe"
            assert (await log_in(client, unique_email(), **from_ip(neighbour))).status_code == 401
        # A third address of the same /64 is one client too.
        third = await log_in(client, unique_email(), **from_ip("2001:db8:1:2:abcd::7"))
        assert outcomes([third]) == {LIMITED: 1}
        # The next /64, and IPv4 addresses, have budgets of their own.
        assert (
            await log_in(client, unique_email(), **from_ip("2001:db8:1:3::1"))
        ).status_code == 401
        assert (await log_in(client, unique_email(), **from_ip("192.0.2.10"))).status_code == 401
        assert (await log_in(client, unique_email(), **from_ip("192.0.2.10"))).status_code == 401
        assert (await log_in(client, unique_email(), **from_ip("192.0.2.11"))).status_code == 401
    audited = [
        record.__dict__["audit"]["ip"]
        for record in caplog.records
        if record.name == "auth_backend.audit"
    ]
    assert audited == ["2001:db8:1:2::1", neighbour]


async def test_the_prefix_is_configurable(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    async with throttled_service(
        request,
        tmp_path,
        "local-sqlite",
        throttle_login_per_ip="1/minute",
        throttle_ipv6_prefix="128",
    ) as (_app, client):
        for ip in ("2001:db8::1", "2001:db8::2"):
            assert (await log_in(client, unique_email(), **from_ip(ip))).status_code == 401


async def test_the_strict_account_limit_buckets_ipv6_too(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with throttled_service(
        request, tmp_path, "local-sqlite", throttle_login_per_account="2/minute"
    ) as (_app, client):
        email = await signed_up(client)
        for ip in ("2001:db8:5:6::1", "2001:db8:5:6::2"):
            assert (await log_in(client, email, WRONG, **from_ip(ip))).status_code == 401
        assert outcomes([await log_in(client, email, **from_ip("2001:db8:5:6::3"))]) == {LIMITED: 1}
        assert (await log_in(client, email, **from_ip("2001:db8:5:7::1"))).status_code == 200


@pytest.mark.parametrize(
    ("ip", "prefix", "bucket"),
    [
        ("203.0.113.9", 64, "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::9", 48, "2001:db8:1::/48"),
        ("2001:db8::9", 128, "2001:db8::9/128"),
        ("::ffff:198.51.100.4", 64, "198.51.100.4"),  # IPv4-mapped: the IPv4 address
        (None, 64, "unknown"),
        ("testclient", 64, "testclient"),
    ],
)
def test_ip_buckets(ip: str | None, prefix: int, bucket: str) -> None:
    assert ip_bucket(ip, prefix) == bucket
