"""The worker pools: the node's thread pool runs work off the event loop; inline runs it on it."""

from __future__ import annotations

import threading

import pytest
import trio

from oracle_node.pipeline.workers import InlineWorkers, ThreadWorkers


async def test_thread_workers_run_off_the_event_loop_and_respect_capacity() -> None:
    workers = ThreadWorkers(capacity=1)
    loop_thread = threading.get_ident()
    running = 0
    peak = 0
    guard = threading.Lock()

    def work() -> int:
        nonlocal running, peak
        with guard:
            running += 1
            peak = max(peak, running)
        threading.Event().wait(0.01)
        with guard:
            running -= 1
        return threading.get_ident()

    results: list[int] = []

    async def one() -> None:
        results.append(await workers.run_sync(work))

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(one)
    assert len(results) == 3
    assert loop_thread not in results
    assert peak == 1


async def test_inline_workers_run_on_the_loop_and_propagate_errors() -> None:
    workers = InlineWorkers()
    assert await workers.run_sync(threading.get_ident) == threading.get_ident()

    def boom() -> None:
        raise ValueError("bad block")

    with pytest.raises(ValueError, match="bad block"):
        await workers.run_sync(boom)
    with pytest.raises(ValueError, match="bad block"):
        await ThreadWorkers().run_sync(boom)
