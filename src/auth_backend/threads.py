"""Awaiting work on a thread pool with as little event-loop work as it takes.

`loop.run_in_executor` chains two futures through general-purpose machinery (state copies,
type checks, a callback each way) that costs the loop about twice what this does. A login
makes three such hops (user lookup, password check, session start on SQLite), and the loop's
CPU is taken from the hashing threads (bench/RESULTS.md). Semantics kept: the result or exception of
the call, and cancelling the awaiting task cancels the call if it has not started yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import TypeVar, TypeVarTuple

_R = TypeVar("_R")
_Ts = TypeVarTuple("_Ts")


async def run_in_thread(pool: Executor, function: Callable[[*_Ts], _R], *args: *_Ts) -> _R:
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[_R] = loop.create_future()

    def settle_from_worker(work: Future[_R]) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(_settle, work, waiter)

    work = pool.submit(function, *args)
    work.add_done_callback(settle_from_worker)
    try:
        return await waiter
    except asyncio.CancelledError:
        work.cancel()
        raise


def _settle(work: Future[_R], waiter: asyncio.Future[_R]) -> None:
    if waiter.done():  # the awaiting task was cancelled meanwhile
        return
    if work.cancelled():
        waiter.cancel()
        return
    error = work.exception()
    if error is None:
        waiter.set_result(work.result())
    else:
        waiter.set_exception(error)
