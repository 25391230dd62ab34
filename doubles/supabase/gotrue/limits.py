"""GoTrue's per-IP limiters in front of handlers (reference §6)."""

from __future__ import annotations

import time

from starlette.requests import Request

from ..errors import ApiError
from ..ratelimit import TokenBucketLimiter


def check_rate_limit(request: Request, limiter: TokenBucketLimiter) -> None:
    """Reference §6: a per-IP bucket keyed on the trusted header GOTRUE_RATE_LIMIT_HEADER.
    GoTrue uses the header's value as the key and skips limiting a request that lacks it
    (source behaviour; the reference only says the header must be set)."""
    limit = limiter.limit
    if limit is None:
        return
    key = request.headers.get(limit.header)
    if key and not limiter.allow(key, time.monotonic()):
        raise ApiError(429, "over_request_rate_limit", "Request rate limit reached")
