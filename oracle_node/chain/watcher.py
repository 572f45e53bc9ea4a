"""Watcher component: one per chain, follows the main contract's events up to finality.

Each poll: (1) re-check the cursor block's hash (quorum); a mismatch is a reorg deeper than
the finality rule: find the fork point among the stored checkpoints and emitted events,
send an ``EventRetracted`` for every emitted event above it (highest first) and rewind;
(2) scan ``(cursor, safe height]`` in ranges of ``max_range`` blocks: quorum ``eth_getLogs``,
quorum header at the range end and at every block holding a log, the cursor re-checked
again, then emit the decoded facts in chain order (``await send``: backpressure) and save
the cursor. Events never emitted twice: each (block hash, log index) is recorded after its
send (a crash between the two can repeat that one event after restart; consumers key by
(chain, block)). A reorg shallower than the finality rule never reaches the output because
nothing above the safe height is emitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from oracle_node.chain.cursor import Cursor, CursorStore, EmittedRecord
from oracle_node.chain.events import TOPIC_OF, ChainFact, decode_log
from oracle_node.errors import ChainError
from oracle_node.pipeline.messages import EventRetracted
from oracle_node.ports import ChainRpc, LogEntry, MetricsSink, discard_metrics
from oracle_node.types import BlockNumber, RollupChainId

if TYPE_CHECKING:  # mypy 2.4 does not see trio's re-export of TaskStatus
    from trio import TaskStatus


@dataclass(frozen=True)
class FinalityRule:
    """When a block counts as final: the ``finalized`` tag, or ``confirmations`` below the head.

    With ``use_finalized_tag`` the tag is asked first; a node that does not know the tag
    (answers null) falls back to ``confirmations``.
    """

    confirmations: int = 12
    use_finalized_tag: bool = False

    @classmethod
    def finalized_tag(cls, fallback_confirmations: int = 64) -> FinalityRule:
        """Follow the node's ``finalized`` block."""
        return cls(confirmations=fallback_confirmations, use_finalized_tag=True)

    async def safe_height(self, rpc: ChainRpc) -> int:
        """The highest block number that is final under this rule (may be negative early on)."""
        if self.use_finalized_tag:
            header = await rpc.get_block("finalized")
            if header is not None:
                return header.number
        return await rpc.block_number() - self.confirmations


class Watcher:
    """Follows one chain's main contract; see the module docstring."""

    def __init__(self, *, chain: RollupChainId, rpc: ChainRpc, contract: str,
                 out: trio.MemorySendChannel[ChainFact], cursor_store: CursorStore,
                 finality: FinalityRule = FinalityRule(), start_block: int = 0,
                 poll_interval: float = 2.0, max_range: int = 1000, reorg_window: int = 4096,
                 metrics: MetricsSink = discard_metrics,
                 wake: trio.MemoryReceiveChannel[int] | None = None) -> None:
        self.chain = chain
        self.rpc = rpc
        self.contract = contract.lower()
        self.out = out
        self.store = cursor_store
        self.finality = finality
        self.start_block = start_block
        self.poll_interval = poll_interval
        self.max_range = max_range
        self.reorg_window = reorg_window
        self.metrics = metrics
        self.wake = wake
        self.cursor = cursor_store.load_cursor(chain) or Cursor(start_block - 1, b"")
        self._topics = [list(TOPIC_OF.values())]

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Poll forever, every ``poll_interval`` and at once when ``wake`` delivers a head.

        Wake-ups queued during a poll are coalesced into the next one (one poll covers every
        new head); a closed ``wake`` channel (the subscriber is gone) leaves plain polling.
        """
        task_status.started()
        while True:
            try:
                await self.poll_once()
            except ChainError as err:
                self.metrics("watcher_poll_error", type(err).__name__)
            with trio.move_on_after(self.poll_interval):
                await self._wait_for_wake()

    async def _wait_for_wake(self) -> None:
        """Return on the next wake-up (never, without a wake channel)."""
        if self.wake is None:
            await trio.sleep_forever()
            return
        try:
            await self.wake.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            self.metrics("watcher_wake", "closed")
            self.wake = None
            await trio.sleep_forever()
        self.metrics("watcher_wake", "head")
        while self.wake is not None:
            try:
                self.wake.receive_nowait()
            except trio.WouldBlock:
                return
            except (trio.EndOfChannel, trio.ClosedResourceError):
                self.metrics("watcher_wake", "closed")
                self.wake = None
                return
            self.metrics("watcher_wake", "coalesced")

    async def poll_once(self) -> None:
        """One catch-up pass (raises ``ChainError`` when the chain cannot be read)."""
        if not await self._cursor_is_canonical():
            await self._handle_reorg()
        safe = await self.finality.safe_height(self.rpc)
        while self.cursor.height < safe:
            start = self.cursor.height + 1
            end = min(safe, start + self.max_range - 1)
            if not await self._scan(start, end):
                return

    async def _cursor_is_canonical(self) -> bool:
        if not self.cursor.block_hash:
            return True
        header = await self.rpc.get_block(self.cursor.height)
        return header is not None and header.hash == self.cursor.block_hash

    async def _scan(self, start: int, end: int) -> bool:
        logs = await self.rpc.get_logs(address=self.contract, topics=self._topics,
                                       from_block=start, to_block=end)
        end_header = await self.rpc.get_block(end)
        if end_header is None:
            self.metrics("watcher_drop", "range_end_missing")
            return False
        hashes = {end: end_header.hash}
        for height in sorted({log.block_number for log in logs}):
            if height not in hashes:
                header = await self.rpc.get_block(height)
                hashes[height] = b"" if header is None else header.hash
        stale = [log for log in logs if hashes.get(log.block_number) != log.block_hash]
        if stale:
            self.metrics("watcher_drop", "stale_block_hash", len(stale))
            return False
        if not await self._cursor_is_canonical():
            await self._handle_reorg()
            return False
        for log in sorted(logs, key=lambda entry: (entry.block_number, entry.log_index)):
            await self._emit(log)
        self.cursor = Cursor(end, end_header.hash)
        self.store.save_cursor(self.chain, self.cursor)
        self.store.prune(self.chain, end - self.reorg_window)
        return True

    async def _emit(self, log: LogEntry) -> None:
        if log.removed:
            self.metrics("watcher_drop", "removed_log")
            return
        if self.store.was_emitted(self.chain, log.block_hash, log.log_index):
            self.metrics("watcher_drop", "already_emitted")
            return
        decoded = decode_log(self.chain, log)
        if isinstance(decoded, str):
            self.metrics("watcher_drop", decoded)
            return
        kind, fact, ident = decoded
        await self.out.send(fact)
        self.store.record_emitted(self.chain, EmittedRecord(
            log.block_number, log.block_hash, log.log_index, kind, ident))
        self.metrics("watcher_emitted", kind)

    async def _handle_reorg(self) -> None:
        candidates = {c.height: c.block_hash for c in self.store.checkpoints(self.chain)}
        for rec in self.store.emitted_above(self.chain, self.start_block - 1):
            candidates.setdefault(rec.height, rec.block_hash)
        fork = Cursor(self.start_block - 1, b"")
        for height in sorted(candidates, reverse=True):
            if height >= self.cursor.height:
                continue
            header = await self.rpc.get_block(height)
            if header is not None and header.hash == candidates[height]:
                fork = Cursor(height, header.hash)
                break
        for rec in self.store.emitted_above(self.chain, fork.height):
            await self.out.send(EventRetracted(self.chain, rec.kind, BlockNumber(rec.ident),
                                               rec.block_hash))
            self.store.forget_emitted(self.chain, rec)
            self.metrics("watcher_retracted", rec.kind)
        self.metrics("watcher_reorg", "deep", max(0, self.cursor.height - fork.height))
        self.store.rewind(self.chain, fork)
        self.cursor = fork
