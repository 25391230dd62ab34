"""Rate limits on the credential endpoints, in memory or shared through Redis.

Built on the `limits` library (moving windows). When Redis is configured but refuses, fails or
does not answer within `timeout`, every replica falls back to limits in its own memory (the
same rules, so an outage multiplies the budget by the number of replicas instead of lifting
it) and probes Redis in the background until it answers again: a throttling outage must
become neither a login outage nor an open door.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

import limits
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from auth_backend.errors import RateLimited
from auth_backend.observability import metrics

_T = TypeVar("_T")

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
    table, so a new limit is one member here and a `consume`/`reserve` where it applies.

    Login guesses against one account are bounded twice (README.md, Security): strictly per
    (account, client IP), LOGIN_PER_ACCOUNT, so that one address cannot lock the owner out,
    and by a looser ceiling per account across all addresses, LOGIN_PER_ACCOUNT_CEILING, so
    that many addresses together still get a bounded number of guesses. The strict rule must
    admit less than the ceiling in the ceiling's window (10 per 10 minutes is at most 60 an
    hour, below 100 an hour)."""

    LOGIN_PER_IP = RateLimit(
        "login-ip",
        "throttle_login_per_ip",
        "60/minute",
        "Login attempts allowed per client IP (limits syntax: N/second|minute|hour, "
        "or N per M minutes).",
    )
    # Keyed by (account, client IP) since the ceiling below exists; the setting keeps its name,
    # so a configured THROTTLE_LOGIN_PER_ACCOUNT still bounds what one client can try.
    LOGIN_PER_ACCOUNT = RateLimit(
        "login-account-ip",
        "throttle_login_per_account",
        "10 per 10 minutes",
        "Failed login attempts allowed per email address, known or not, from one client IP "
        "(IPv6: one THROTTLE_IPV6_PREFIX network). Keep it below "
        "THROTTLE_LOGIN_PER_ACCOUNT_CEILING over that limit's window, so that one address "
        "cannot lock an account's owner out.",
    )
    LOGIN_PER_ACCOUNT_CEILING = RateLimit(
        "login-account",
        "throttle_login_per_account_ceiling",
        "100/hour",
        "Failed login attempts allowed per email address, known or not, from all client IPs "
        "together: the ceiling on guesses against one account.",
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
    EMAIL_SEND_PER_IP = RateLimit(
        "email-send-ip",
        "throttle_email_send_per_ip",
        "10/minute",
        "Recovery and verification mails requested per client IP (POST /recover and "
        "/verify-email/resend together).",
    )
    EMAIL_SEND_PER_ADDRESS = RateLimit(
        "email-send-address",
        "throttle_email_send_per_address",
        "5/hour",
        "Recovery and verification mails requested per email address, known or not.",
    )
    CODE_CHECK_PER_IP = RateLimit(
        "code-check-ip",
        "throttle_code_check_per_ip",
        "30/minute",
        "Codes and links presented per client IP (POST /recover/confirm and /verify-email "
        "together).",
    )
    CODE_CHECK_PER_ADDRESS = RateLimit(
        "code-check-address",
        "throttle_code_check_per_address",
        "20/hour",
        "Codes presented per email address, known or not (each code also dies after "
        "CODE_MAX_ATTEMPTS wrong guesses).",
    )


def ip_bucket(ip: str | None, ipv6_prefix: int) -> str:
    """The key of `ip` in per-IP limits: an IPv4 address itself, an IPv6 address's network.

    One IPv6 subscriber is routinely given a whole /64 (RFC 6177), so per-address limits
    would hand a single client 2^64 budgets."""
    if not ip:
        return "unknown"
    return _ip_bucket(ip, ipv6_prefix)


@functools.lru_cache(maxsize=4096)
def _ip_bucket(ip: str, ipv6_prefix: int) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip  # not an address (an ASGI test client's name): taken as given
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.IPv6Network((int(address), ipv6_prefix), strict=False)
        return str(network)
    return str(address)


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


# Removes one event of a moving window that limits' acquire_moving_window.lua pushed: the
# newest whose timestamp lies in [ARGV[1], ARGV[2]]. limits takes the timestamp from
# time.time() in this process just before the call, so the reservation's own event is in
# that range; another one in it (another replica's, same instant) refunds the same amount.
# The list is trimmed to the limit by that script, so the scan is bounded by the limit.
_REDIS_REFUND = """
local low = tonumber(ARGV[1])
local high = tonumber(ARGV[2])
for _, entry in ipairs(redis.call('lrange', KEYS[1], 0, -1)) do
    local at = tonumber(entry)
    if at and at >= low and at <= high then
        return redis.call('lrem', KEYS[1], 1, entry)
    end
end
return 0
"""

DEFAULT_REDIS_TIMEOUT = 0.5
DEFAULT_PROBE_INTERVAL = 5.0


def storage_for(redis_url: str | None, timeout: float = DEFAULT_REDIS_TIMEOUT) -> Storage:
    if redis_url is None:
        return LoopMemoryStorage()
    options: dict[str, Any] = {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        # redis-py retries three times with backoff by default: a hung Redis would cost
        # several timeouts per request; the throttle falls back to memory instead.
        "retry": Retry(NoBackoff(), 0),
    }
    # limits' async Redis storage takes the async+ scheme; redis-py is the client.
    return RedisStorage(f"async+{redis_url}", implementation="redispy", **options)


@dataclass(frozen=True, slots=True)
class Reservation:
    """One counted attempt, which `Throttle.refund` can take back."""

    storage: Storage
    key: str
    # time.time() just before and just after the event was stored (see _REDIS_REFUND).
    started: float
    finished: float


class _Backend:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.limiter = MovingWindowRateLimiter(storage)


class Throttle:
    """Moving-window limits on one storage; with a shared (Redis) storage, an in-memory
    fallback used while it is unavailable."""

    def __init__(
        self,
        storage: Storage,
        rules: Mapping[Rule, str],
        *,
        ipv6_prefix: int = 64,
        timeout: float = DEFAULT_REDIS_TIMEOUT,
        probe_interval: float = DEFAULT_PROBE_INTERVAL,
    ) -> None:
        self._primary = _Backend(storage)
        shared = not isinstance(storage, MemoryStorage)
        self._fallback = _Backend(LoopMemoryStorage()) if shared else None
        self._rules = {rule: limits.parse(rate) for rule, rate in rules.items()}
        self._keys = {rule: rule.value.key for rule in rules}
        self._ipv6_prefix = ipv6_prefix
        self._timeout = timeout
        self._probe_interval = probe_interval
        self._degraded = False
        self._next_probe = 0.0
        self._probe: asyncio.Task[None] | None = None
        self._redis_refund: Any = None
        if shared:
            metrics.RATE_LIMIT_STORAGE_FALLBACK.set(0)

    @property
    def degraded(self) -> bool:
        """Whether limits are currently kept in this process's memory instead of Redis."""
        return self._degraded

    async def aclose(self) -> None:
        """Stop a pending probe (the loop that would finish it is ending)."""
        if self._probe is not None and not self._probe.done():
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe

    def client_key(self, ip: str | None) -> str:
        """The identifier of a client IP in per-IP limits (IPv6: its network)."""
        return ip_bucket(ip, self._ipv6_prefix)

    async def consume(self, rule: Rule, *identifiers: str) -> None:
        """Count one request against `rule`; RateLimited when over the limit."""
        await self.reserve(rule, *identifiers)

    async def reserve(self, rule: Rule, *identifiers: str) -> Reservation:
        """Count one attempt against `rule` atomically, before the work it limits: concurrent
        attempts cannot all pass a check that none has recorded yet. RateLimited when over."""
        item = self._rules[rule]
        key = item.key_for(_NAMESPACE, self._keys[rule], *identifiers)
        started = time.time()
        allowed, backend = await self._run(
            lambda backend: backend.limiter.hit(item, _NAMESPACE, self._keys[rule], *identifiers)
        )
        if not allowed:
            raise RateLimited(await self._retry_after(backend, item, rule, identifiers))
        return Reservation(backend.storage, key, started, time.time())

    async def refund(self, *reservations: Reservation) -> None:
        """Take reserved attempts back (a login that succeeded is not a guess to count)."""
        await asyncio.gather(*(self._refund(reservation) for reservation in reservations))

    async def _refund(self, reservation: Reservation) -> None:
        storage = reservation.storage
        if storage is self._primary.storage and self._fallback is not None:
            if self._degraded:
                return  # counted in Redis, which does not answer: it expires there instead
            try:
                async with asyncio.timeout(self._timeout):
                    await self._refund_redis(reservation)
            except Exception as error:
                self._fall_back(error)
            return
        if isinstance(storage, MemoryStorage):
            _refund_memory(storage, reservation)

    async def _refund_redis(self, reservation: Reservation) -> None:
        storage = reservation.storage
        if not isinstance(storage, RedisStorage):
            raise TypeError(f"cannot refund on {type(storage).__name__}")
        bridge: Any = storage.bridge
        if self._redis_refund is None:
            self._redis_refund = bridge.get_connection().register_script(_REDIS_REFUND)
        await self._redis_refund(
            [bridge.prefixed_key(reservation.key)],
            [repr(reservation.started), repr(reservation.finished)],
        )

    async def _retry_after(
        self,
        backend: _Backend,
        item: limits.RateLimitItem,
        rule: Rule,
        identifiers: tuple[str, ...],
    ) -> int:
        try:
            async with asyncio.timeout(self._timeout):
                stats = await backend.limiter.get_window_stats(
                    item, _NAMESPACE, self._keys[rule], *identifiers
                )
        except Exception:  # the limit is known to be hit; any positive wait is truthful
            return item.get_expiry()
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def _run(self, operation: Callable[[_Backend], Awaitable[_T]]) -> tuple[_T, _Backend]:
        """`operation` on Redis, or on the in-memory fallback while Redis is unavailable."""
        if self._fallback is None:
            return await operation(self._primary), self._primary
        if not self._degraded:
            try:
                # The client's own socket timeouts bound each step; this bounds the whole
                # (connect, script load, call), so a hung Redis costs one timeout at most.
                async with asyncio.timeout(self._timeout):
                    return await operation(self._primary), self._primary
            except Exception as error:
                self._fall_back(error)
        else:
            self._schedule_probe()
        return await operation(self._fallback), self._fallback

    def _fall_back(self, error: Exception) -> None:
        if self._degraded:
            return
        self._degraded = True
        self._next_probe = time.monotonic() + self._probe_interval
        metrics.RATE_LIMIT_STORAGE_FALLBACK.set(1)
        metrics.RATE_LIMIT_STORAGE_FALLBACKS.inc()
        logger.error(
            "rate-limit storage failed (%s); using this replica's in-memory limits until "
            "Redis answers again",
            type(error).__name__,
        )

    def _schedule_probe(self) -> None:
        # At most one probe per interval, off the request path: requests never wait for it.
        now = time.monotonic()
        if now < self._next_probe or (self._probe is not None and not self._probe.done()):
            return
        self._next_probe = now + self._probe_interval
        self._probe = asyncio.create_task(self._probe_primary())

    async def _probe_primary(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                answered = await self._primary.storage.check()
        except Exception:
            answered = False
        if answered and self._degraded:
            self._degraded = False
            metrics.RATE_LIMIT_STORAGE_FALLBACK.set(0)
            logger.warning("rate-limit storage answers again; limits are shared through Redis")


def _refund_memory(storage: MemoryStorage, reservation: Reservation) -> None:
    # limits keeps a moving window's events newest first, each with the time it was stored;
    # no await between finding and removing, so no other task sees the list half-changed.
    events = storage.events.get(reservation.key)
    if not events:
        return
    for index, event in enumerate(events):
        if reservation.started <= event.atime <= reservation.finished:
            del events[index]
            return
