"""run_in_thread: what run_in_executor gave its callers, with less work on the loop."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from auth_backend.threads import run_in_thread


async def test_returns_the_result_computed_on_a_pool_thread() -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="probe") as pool:
        name = await run_in_thread(pool, lambda: threading.current_thread().name)
        assert name.startswith("probe")
        assert await run_in_thread(pool, pow, 2, 10) == 1024


async def test_raises_what_the_call_raised() -> None:
    def fail() -> None:
        raise LookupError("from the worker")

    with ThreadPoolExecutor(1) as pool, pytest.raises(LookupError, match="from the worker"):
        await run_in_thread(pool, fail)


async def test_cancelling_the_caller_cancels_work_that_has_not_started() -> None:
    started = threading.Event()
    release = threading.Event()
    ran: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        # The only worker is busy, so the second call waits in the queue.
        blocker = asyncio.create_task(run_in_thread(pool, _block, started, release))
        await asyncio.to_thread(started.wait, 5)
        queued = asyncio.create_task(run_in_thread(pool, ran.append, "queued"))
        await asyncio.sleep(0.01)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        release.set()
        await blocker
    assert ran == []  # the pool has shut down: the queued call never ran


def _block(started: threading.Event, release: threading.Event) -> None:
    started.set()
    release.wait(5)
