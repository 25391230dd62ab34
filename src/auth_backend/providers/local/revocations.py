"""Which sessions have ended, known to every replica within about a second.

Access tokens are verified without a database round trip; to make logout and refresh-token
reuse take effect before the tokens expire, each replica keeps the ids of recently ended
sessions in memory and polls the store for new ones. An entry is dropped once every token of
that session has expired anyway.

The same loop runs the other once-a-second checks a replica needs (`also_poll`: the signing
keys, keys.py), so one timer keeps every replica's view of the store current.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from uuid import UUID

logger = logging.getLogger(__name__)

POLL_INTERVAL_SECONDS = 1.0
# Replicas' clocks differ a little; re-reading a few seconds back costs nothing.
CLOCK_MARGIN = timedelta(seconds=5)

FetchRevoked = Callable[[datetime], Awaitable[list[tuple[UUID, datetime]]]]
AlsoPoll = Callable[[], Awaitable[object]]


class RevokedSessions:
    def __init__(
        self, fetch: FetchRevoked, retention_seconds: int, also_poll: Iterable[AlsoPoll] = ()
    ) -> None:
        self._fetch = fetch
        self._retention = retention_seconds
        self._also_poll = tuple(also_poll)
        self._expiry: dict[str, float] = {}
        self._polled_until: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    def __contains__(self, session_id: str | None) -> bool:
        return session_id is not None and session_id in self._expiry

    def add(self, session_ids: Iterable[UUID]) -> None:
        expires = time.monotonic() + self._retention
        for session_id in session_ids:
            self._expiry[str(session_id)] = expires

    async def start(self) -> None:
        await self.poll()
        self._task = asyncio.create_task(self._poll_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def poll(self) -> None:
        now = datetime.now(UTC)
        since = (
            self._polled_until - CLOCK_MARGIN
            if self._polled_until
            else now - timedelta(seconds=self._retention)
        )
        self.add(session_id for session_id, _ in await self._fetch(since))
        self._polled_until = now
        self._prune()

    def _prune(self) -> None:
        now = time.monotonic()
        for session_id in [sid for sid, expires in self._expiry.items() if expires < now]:
            del self._expiry[session_id]

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL_SECONDS)
            try:
                await self.poll()
            except Exception as error:  # keep polling: the store may come back
                logger.warning("could not poll ended sessions: %s", type(error).__name__)
            # Each on its own: one failing must not starve the others, nor the sessions.
            for also_poll in self._also_poll:
                try:
                    await also_poll()
                except Exception as error:
                    logger.warning("could not poll %s: %s", _name(also_poll), type(error).__name__)


def _name(function: AlsoPoll) -> str:
    owner = getattr(function, "__self__", None)
    return type(owner).__name__ if owner is not None else getattr(function, "__name__", "?")
