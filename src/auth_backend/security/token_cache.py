"""Access tokens this process has already verified in full, remembered until they expire.

Checking an ES256 signature is most of the work of `/me`, and a client presents the same token
on every call for up to its whole lifetime, so re-verifying it each time buys nothing. What a
cache must not do is accept a token the verifier would refuse, hence:

- An entry is only used while `now < exp`. The verifier tolerates `CLOCK_LEEWAY_SECONDS`
  after `exp`; in that window the cache steps aside and the verifier decides, as it would
  with no cache at all.
- Nothing about revocation is cached: the provider checks the token's session against its
  ended sessions on every request, hit or miss (see `LocalProvider.verify_access_token`).
- The keys a hit was verified with may go away: the owner calls `clear()` whenever it
  replaces its key set.
- It is bounded: at most `max_entries` tokens (each at most `MAX_TOKEN_BYTES`), the oldest
  dropped first.

No locking: it is used from the event loop only, and no method awaits.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from auth_backend.domain import AccessClaims

# A replica's working set is the tokens of its active clients; 1024 entries of a typical
# 1 KiB token and its claims stay around a few MB, and at worst (8 KiB tokens with 8 KiB of
# metadata each) bounded at about 20 MB.
DEFAULT_MAX_ENTRIES = 1024


class VerifiedTokenCache:
    def __init__(
        self, max_entries: int = DEFAULT_MAX_ENTRIES, clock: Callable[[], float] | None = None
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._clock = clock or _wall_clock
        # dict keeps insertion order: the first key is the oldest entry.
        self._entries: dict[str, AccessClaims] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> AccessClaims | None:
        """The claims of `token` if it was verified before and has not reached its `exp`."""
        claims = self._entries.get(token)
        if claims is None:
            return None
        if self._clock() >= claims.expires_at:
            del self._entries[token]
            return None
        return claims

    def put(self, token: str, claims: AccessClaims) -> None:
        """Remember the claims of a token that has just passed full verification."""
        if token not in self._entries and len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[token] = claims

    def clear(self) -> None:
        self._entries.clear()


def _wall_clock() -> float:
    # Looked up at each call, so the clock the verifier uses (time.time) and this one are
    # always the same one, in tests too.
    return time.time()
