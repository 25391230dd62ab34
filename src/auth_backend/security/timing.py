"""A floor under the time a failed login takes, so that its duration says nothing about the
address.

A wrong password costs a password check (Argon2id here, bcrypt at Supabase, tens of
milliseconds); an unknown address, or one Supabase refuses before checking the password (a
ban), costs almost nothing. The local provider does equal work with a dummy hash; Supabase
answers by itself, and hashes with older parameters cost more than new ones. So every failed
login is padded, without blocking anything, to the larger of a configured minimum and the
90th percentile of the recent failures' natural durations, capped.

The minimum is what holds against an attacker who probes unknown addresses only (their fast
failures would keep a percentile low): set it above the slowest natural failure.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque

RECENT_FAILURES = 64
PERCENTILE = 0.9
# A stalled upstream must not turn every failure into a long wait.
MAXIMUM_FLOOR_SECONDS = 2.0
# Each failure waits a random part of this fraction of the floor longer, so that a sub-
# millisecond difference left after the floor (the event loop's own work differs a little
# between failures) drowns in milliseconds of noise.
JITTER = 0.1
_jitter = random.SystemRandom()


class FailureFloor:
    def __init__(self, minimum_seconds: float) -> None:
        self._minimum = minimum_seconds
        self._recent: deque[float] = deque(maxlen=RECENT_FAILURES)

    def floor(self) -> float:
        if not self._recent:
            return self._minimum
        ordered = sorted(self._recent)
        percentile = ordered[min(len(ordered) - 1, int(len(ordered) * PERCENTILE))]
        return min(MAXIMUM_FLOOR_SECONDS, max(self._minimum, percentile))

    async def pad(self, started: float) -> None:
        """Wait until the floor (and a random part of JITTER of it) has passed since `started`
        (time.monotonic())."""
        elapsed = time.monotonic() - started
        floor = self.floor()
        self._recent.append(elapsed)
        target = floor * (1 + _jitter.uniform(0, JITTER))
        if elapsed < target:
            await asyncio.sleep(target - elapsed)
