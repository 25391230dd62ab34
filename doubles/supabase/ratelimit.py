"""The per-IP `/token` limiter (reference §6)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """Token bucket like GoTrue's tollbooth limiter: `requests` per `per_seconds`, starting
    full with `burst` tokens. GoTrue's hosted default is 150 per 300 s with burst 30."""

    requests: int
    per_seconds: float
    burst: int
    # Reference §6: GOTRUE_RATE_LIMIT_HEADER names the trusted client-IP header.
    header: str


class TokenBucketLimiter:
    def __init__(self) -> None:
        self.limit: RateLimit | None = None  # off by default, as locally (reference §6)
        self._buckets: dict[str, tuple[float, float]] = {}

    def configure(self, limit: RateLimit | None) -> None:
        self.limit = limit
        self._buckets.clear()

    def allow(self, key: str, now: float) -> bool:
        if self.limit is None:
            return True
        rate = self.limit.requests / self.limit.per_seconds
        tokens, last = self._buckets.get(key, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - last) * rate)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        return allowed
