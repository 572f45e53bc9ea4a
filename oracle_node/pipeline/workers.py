"""The node's :class:`~oracle_node.pipeline.ports.WorkerPool`: capacity-limited trio threads."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import trio

T = TypeVar("T")


class ThreadWorkers:
    """Runs synchronous work in at most ``capacity`` trio worker threads at once.

    The rollup core releases the GIL rarely, so one thread is the default: it keeps the event
    loop responsive without two replays contending for the same state.
    """

    def __init__(self, capacity: int = 1) -> None:
        """Limit concurrent work to ``capacity`` threads."""
        self._limiter = trio.CapacityLimiter(capacity)

    async def run_sync(self, work: Callable[[], T]) -> T:
        """Run ``work`` in a worker thread (not abandoned on cancel: the state stays whole)."""
        return await trio.to_thread.run_sync(work, limiter=self._limiter)


class InlineWorkers:
    """Runs work on the event loop itself: deterministic under ``MockClock`` (simulator only)."""

    async def run_sync(self, work: Callable[[], T]) -> T:
        """Run ``work`` now, then yield once so other tasks see a checkpoint."""
        result = work()
        await trio.lowlevel.checkpoint()
        return result
