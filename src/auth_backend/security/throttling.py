"""Rate limits on the credential endpoints, in memory or shared through Redis.

Built on the `limits` library (moving windows). When Redis is configured but down, requests
are let through and an error is logged: a throttling outage must not become a login outage.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

import limits
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from auth_backend.errors import RateLimited

logger = logging.getLogger(__name__)

_NAMESPACE = "auth-backend"


@dataclass(frozen=True, slots=True)
class RateLimit:
    # The counters' name in the storage (shared by every replica through Redis).
    key: str
    # The Settings field, and so the environment variable, that sets the rate.
    setting: str
    default: str
    description: str


class Rule(Enum):
    """Every rate limit: one member each. The settings and the throttle are built from this
    table, so a new limit is one member here and a `consume`/`check` where it applies."""

    LOGIN_PER_IP = RateLimit(
        "login-ip",
        "throttle_login_per_ip",
        "60/minute",
        "Login attempts allowed per client IP (limits syntax: N/second|minute|hour).",
    )
    LOGIN_PER_ACCOUNT = RateLimit(
        "login-account",
        "throttle_login_per_account",
        "10/minute",
        "Failed login attempts allowed per email address, known or not.",
    )
    SIGNUP_PER_IP = RateLimit(
        "signup-ip", "throttle_signup_per_ip", "20/minute", "Signups allowed per client IP."
    )
    REFRESH_PER_IP = RateLimit(
        "refresh-ip",
        "throttle_refresh_per_ip",
        "60/minute",
        "Token refreshes allowed per client IP.",
    )


class LoopMemoryStorage(MemoryStorage):
    """limits' in-memory storage, pruning expired events on the event loop.

    limits 5.x prunes moving-window events after nearly every hit, running each key's
    O(log n) bisect through `asyncio.to_thread`: a thread-pool round trip per key per login,
    about a fifth of the CPU of a Supabase login (bench/RESULTS.md). This is the same sweep
    without the threads; `tests/unit/test_throttling_storage.py` holds it to the original.
    """

    # Overrides the name-mangled sweep that MemoryStorage schedules after hits.
    async def _MemoryStorage__expire_events(self) -> None:  # noqa: N802
        try:
            now = time.time()
            for key in list(self.events):
                async with self.locks[key]:
                    events = self.events.get(key, [])
                    # Newest first: keep the events whose expiry is still ahead.
                    cutoff = bisect.bisect_left(events, -now, key=lambda event: -event.expiry)
                    if events:
                        self.events[key] = events[:cutoff]
                    if not self.events.get(key):
                        self.events.pop(key, None)
                        self.locks.pop(key, None)
            for key in list(self.expirations):
                if self.expirations[key] <= time.time():
                    self.storage.pop(key, None)
                    self.expirations.pop(key, None)
                    self.locks.pop(key, None)
        except asyncio.CancelledError:
            return


def storage_for(redis_url: str | None) -> Storage:
    if redis_url is None:
        return LoopMemoryStorage()
    # limits' async Redis storage takes the async+ scheme; redis-py is the client.
    return RedisStorage(f"async+{redis_url}", implementation="redispy")


class Throttle:
    def __init__(self, storage: Storage, rules: Mapping[Rule, str]) -> None:
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        self._rules = {rule: limits.parse(rate) for rule, rate in rules.items()}
        self._keys = {rule: rule.value.key for rule in rules}

    async def consume(self, rule: Rule, key: str) -> None:
        """Count one request against `rule` for `key`; RateLimited when over the limit."""
        item = self._rules[rule]
        try:
            allowed = await self._limiter.hit(item, _NAMESPACE, self._keys[rule], key)
        except Exception as error:  # storage down: fail open, loudly
            _storage_failed(error)
            return
        if not allowed:
            raise RateLimited(await self._retry_after(item, rule, key))

    async def check(self, rule: Rule, key: str) -> None:
        """RateLimited if `key` is already over the limit, without counting this request."""
        item = self._rules[rule]
        try:
            allowed = await self._limiter.test(item, _NAMESPACE, self._keys[rule], key)
        except Exception as error:
            _storage_failed(error)
            return
        if not allowed:
            raise RateLimited(await self._retry_after(item, rule, key))

    async def record(self, rule: Rule, key: str) -> None:
        """Count an event (a failed login) that `check` will see later."""
        try:
            await self._limiter.hit(self._rules[rule], _NAMESPACE, self._keys[rule], key)
        except Exception as error:
            _storage_failed(error)

    async def _retry_after(self, item: limits.RateLimitItem, rule: Rule, key: str) -> int:
        try:
            stats = await self._limiter.get_window_stats(item, _NAMESPACE, self._keys[rule], key)
        except Exception:  # the limit is known to be hit; any positive wait is truthful
            return item.get_expiry()
        return max(1, math.ceil(stats.reset_time - time.time()))


def _storage_failed(error: Exception) -> None:
    logger.error(
        "rate-limit storage failed (%s); letting the request through", type(error).__name__
    )
