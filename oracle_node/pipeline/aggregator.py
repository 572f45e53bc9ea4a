"""Aggregator: combine t verified partials for one root into the group signature.

Partials are grouped by (block, epoch, final_root). When a group reaches t, the first t by
member index are Lagrange-combined and the result is checked against the group public key;
only a verifying signature is persisted and announced (``AggregateReady``, once per
(block, epoch), to every chain's submitter). A combination that fails the check (impossible
with individually verified partials, so it is counted as ``aggregate_failures``) is retried
with the next partial that arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import trio

from oracle_node.metrics import NodeMetrics
from oracle_node.pipeline.messages import AggregateReady, PartialSigned, StepRecorded
from oracle_node.pipeline.ports import FixedSchemeBook, SchemeBook, ThresholdScheme
from oracle_node.store.db import NodeStore, StoredAggregate
from oracle_node.types import MemberIndex

if TYPE_CHECKING:
    from trio import TaskStatus

log = logging.getLogger("oracle_node.aggregator")


class Aggregator:
    """Consumes verified ``PartialSigned``; emits ``AggregateReady`` to every output."""

    def __init__(self, *, partials: trio.MemoryReceiveChannel[PartialSigned],
                 outputs: Sequence[trio.MemorySendChannel[AggregateReady]],
                 steps: trio.MemorySendChannel[StepRecorded],
                 scheme: ThresholdScheme, store: NodeStore, metrics: NodeMetrics,
                 book: SchemeBook | None = None) -> None:
        """Wire the aggregator; ``outputs`` gets one copy of each aggregate.

        ``book`` picks the signer set (t, public shares) per block (default: ``scheme``).
        """
        self._in = partials
        self._outputs = list(outputs)
        self._steps = steps
        self._book: SchemeBook = book or FixedSchemeBook(scheme, {})
        self._store = store
        self._metrics = metrics
        self._groups: dict[tuple[int, int, bytes], dict[MemberIndex, bytes]] = {}
        self._done: set[tuple[int, int]] = set()

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Aggregate until the input channel closes (then close the outputs)."""
        task_status.started()
        try:
            async with self._in:
                async for partial in self._in:
                    await self.add(partial)
        finally:
            for out in self._outputs:
                await out.aclose()

    async def add(self, p: PartialSigned) -> AggregateReady | None:
        """Add one verified partial; returns the aggregate when this partial completed it."""
        done_key = (int(p.block_number), int(p.epoch))
        if done_key in self._done:
            return None
        view = self._book.set_for(p.block_number)
        if view is None:  # the exchange only forwards partials of placed blocks
            self._metrics.inc(self._metrics.drops, reason="unplaced_block")
            return None
        scheme = view.scheme
        group = self._groups.setdefault((*done_key, p.final_root), {})
        group.setdefault(p.member, p.signature)
        t = scheme.threshold
        if len(group) < t:
            return None
        chosen = dict(group)
        if len(group) > t:
            # a retry after a failed combination: the newest partial and the t-1 lowest others
            # (exactly t even when the newest member sorts among the lowest)
            others = sorted((m, s) for m, s in group.items() if m != p.member)
            chosen = dict([*others[:t - 1], (p.member, group[p.member])])
        signature = scheme.combine(chosen)
        message = scheme.signing_message(epoch=p.epoch, block_number=p.block_number,
                                               final_root=p.final_root)
        if not scheme.verify_group(message, signature):
            self._metrics.inc(self._metrics.aggregate_failures)
            log.error("aggregate_invalid block=%d members=%s", p.block_number, sorted(chosen))
            return None
        members = tuple(sorted(chosen))
        self._done.add(done_key)
        for key in [k for k in self._groups if k[:2] == done_key]:
            del self._groups[key]
        self._store.record_aggregate(StoredAggregate(done_key[0], done_key[1], p.final_root,
                                                     signature, tuple(int(m) for m in members)))
        self._metrics.inc(self._metrics.aggregates)
        ready = AggregateReady(p.block_number, p.final_root, p.epoch, signature, members)
        log.info("aggregate_ready block=%d epoch=%d members=%s", p.block_number, p.epoch,
                 list(members))
        await self._steps.send(StepRecorded(p.block_number, "aggregated", True,
                                            trio.current_time()))
        for out in self._outputs:
            await out.send(ready)
        return ready
