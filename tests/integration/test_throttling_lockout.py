"""Guessing is bounded without handing attackers the owner's account: the strict limit is per
(account, client IP), the per-account ceiling is looser and one address can never reach it."""

from __future__ import annotations

import math
from pathlib import Path

import limits
import pytest

from auth_backend.security.throttling import Rule
from tests.support.accounts import log_in, signed_up
from tests.support.throttling import (
    INVALID,
    LIMITED,
    fresh_ip,
    fresh_ips,
    from_ip,
    outcomes,
    throttled_service,
)

WRONG = "wrong password!"


@pytest.mark.parametrize("provider", ["local-sqlite", "supabase"])
async def test_an_attacker_on_one_ip_does_not_lock_the_owner_out(
    request: pytest.FixtureRequest, tmp_path: Path, provider: str
) -> None:
    # The defaults: 10 failed logins per (account, IP) per 10 minutes, 100 per account per hour.
    async with throttled_service(request, tmp_path, provider) as (_app, client):
        email = await signed_up(client)
        attacker, owner = fresh_ip(), fresh_ip()
        answers = [await log_in(client, email, WRONG, **from_ip(attacker)) for _ in range(15)]
        assert outcomes(answers) == {INVALID: 10, LIMITED: 5}
        assert outcomes([await log_in(client, email, **from_ip(attacker))]) == {LIMITED: 1}
        # The owner, elsewhere, logs in, even after mistyping a few times.
        assert (await log_in(client, email, WRONG, **from_ip(owner))).status_code == 401
        assert (await log_in(client, email, **from_ip(owner))).status_code == 200


async def test_the_ceiling_stops_a_distributed_attack_at_its_bound(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with throttled_service(
        request,
        tmp_path,
        "local-sqlite",
        throttle_login_per_account="3/minute",
        throttle_login_per_account_ceiling="20/hour",
    ) as (_app, client):
        email = await signed_up(client)
        answers = []
        for ip in fresh_ips(12):
            answers += [await log_in(client, email, WRONG, **from_ip(ip)) for _ in range(3)]
        assert outcomes(answers) == {INVALID: 20, LIMITED: 16}
        # The price of a ceiling: while it is full, the owner waits too, from anywhere.
        assert outcomes([await log_in(client, email, **from_ip(fresh_ip()))]) == {LIMITED: 1}


def most_in_window(strict: limits.RateLimitItem, window_seconds: int) -> int:
    """The most events a moving-window limit admits in any span of `window_seconds`."""
    return strict.amount * math.ceil(window_seconds / strict.get_expiry())


def test_by_default_one_ip_cannot_fill_the_ceiling() -> None:
    strict = limits.parse(Rule.LOGIN_PER_ACCOUNT.value.default)
    ceiling = limits.parse(Rule.LOGIN_PER_ACCOUNT_CEILING.value.default)
    assert most_in_window(strict, ceiling.get_expiry()) < ceiling.amount
