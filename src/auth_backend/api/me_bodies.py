"""Recently rendered `/me` bodies, by access token.

The body of `/me` is a pure function of the token's claims, and a client sends the same token
for up to an hour, so building the wire model and serialising it again on every call is work
without a purpose on the hottest route. This memo holds no authority: `get_me` consults it only
after the provider has accepted the token on this very request (signature or cached
verification, `exp`, ended sessions), so a refused token is refused whatever is stored here.
Bounded, oldest first out; used from the event loop only.
"""

from __future__ import annotations

DEFAULT_MAX_ENTRIES = 1024


class RenderedBodies:
    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._bodies: dict[str, bytes] = {}

    def __len__(self) -> int:
        return len(self._bodies)

    def get(self, token: str) -> bytes | None:
        return self._bodies.get(token)

    def put(self, token: str, body: bytes) -> None:
        if token not in self._bodies and len(self._bodies) >= self._max_entries:
            del self._bodies[next(iter(self._bodies))]
        self._bodies[token] = body
