"""The in-memory throttle storage prunes exactly as limits' own, without thread hops."""

from __future__ import annotations

import time

import pytest
from limits.aio.storage import MemoryStorage

from auth_backend.security import throttling
from auth_backend.security.throttling import LoopMemoryStorage


def test_the_override_replaces_the_sweep_limits_schedules() -> None:
    # If limits renames its private sweep, the override silently stops applying: fail here.
    assert hasattr(MemoryStorage, "_MemoryStorage__expire_events")
    assert (
        LoopMemoryStorage._MemoryStorage__expire_events
        is not MemoryStorage._MemoryStorage__expire_events
    )


def test_memory_throttles_use_it() -> None:
    assert isinstance(throttling.storage_for(None), LoopMemoryStorage)


async def _fill(storage: MemoryStorage) -> None:
    # Two keys: one whose events all expire, one with a mix of expired and live events.
    await storage.acquire_entry("gone", limit=10, expiry=1, amount=3)
    await storage.acquire_entry("mixed", limit=10, expiry=1, amount=2)
    await storage.incr("counter", expiry=1)


async def _settle(storage: MemoryStorage) -> None:
    # Hits schedule a sweep task of their own; let it finish so sweeps never overlap.
    if storage.timer is not None:
        await storage.timer


async def _sweep(storage: MemoryStorage) -> None:
    await _settle(storage)
    # limits' private, name-mangled sweep: its stubs do not declare it on instances, and
    # there is no public way to run one sweep.
    await storage._MemoryStorage__expire_events()  # type: ignore[attr-defined]


async def test_it_prunes_like_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    ours, theirs = LoopMemoryStorage(), MemoryStorage()
    start = time.time()
    monkeypatch.setattr(time, "time", lambda: start)
    for storage in (ours, theirs):
        await _fill(storage)
        await _settle(storage)
    monkeypatch.setattr(time, "time", lambda: start + 0.5)
    for storage in (ours, theirs):
        await storage.acquire_entry("mixed", limit=10, expiry=1, amount=1)
        await _settle(storage)
    monkeypatch.setattr(time, "time", lambda: start + 1.2)
    for storage in (ours, theirs):
        await _sweep(storage)

    def shape(storage: MemoryStorage) -> dict[str, list[float]]:
        return {key: [e.expiry for e in events] for key, events in storage.events.items()}

    assert shape(ours) == shape(theirs)
    assert list(shape(ours)) == ["mixed"]
    assert len(ours.events["mixed"]) == 1
    assert dict(ours.storage) == dict(theirs.storage) == {}
