"""Verifier: every chain proved the same root, and the node re-derives that root itself.

For block N the verifier waits until every connected chain reported ``RootProven`` and the DA
chain reported ``BlockCommitted`` (the pubdata), and block N-1 is verified (its final_root is
``syncHash_{N-1}``). Then, on its worker pool (a capacity-limited thread in the node), it
decodes the pubdata, checks every deposit/full exit against the holding chain's
``PriorityRequestQueued`` facts, replays the state transition (when a replayer is plugged
in), and recomputes commitment, every chain's opsHash, syncHash and final_root
(docs/protocol.md §4). Any difference is a ``RootRejected`` with one stable reason, logged
once and counted: never a signature.

Reason codes: ``roots_differ`` (chains proved different roots), ``pubdata_invalid``,
``priority_mismatch``, ``state_root_mismatch``, ``commitment_mismatch``,
``ops_hash_mismatch``, ``sync_hash_mismatch``, ``final_root_mismatch``,
``replay_rollback_failed``.

Reverts (docs/node.md "Reverted blocks"): a chain's ``BlocksReverted`` (or a recommit of a
block number it already committed, which implies one) drops that chain's observations of the
reverted blocks, rolls the replayer back below them and makes their recorded outcome
non-final: a later consistent set of proofs is verified again. Whether the node may sign the
new root is the signer's slashing protection (never two roots for one (block, epoch)).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from oracle_node.errors import RollupError
from oracle_node.metrics import NodeMetrics
from oracle_node.pipeline.messages import (
    BlockCommitted,
    BlocksReverted,
    EventRetracted,
    PriorityRequestQueued,
    RootConfirmed,
    RootProven,
    RootRejected,
    RootVerified,
    StepRecorded,
)
from oracle_node.pipeline.ports import StateReplayer, WorkerPool
from oracle_node.pipeline.verifier.consumed import ConsumedSerials as ConsumedSerials
from oracle_node.pipeline.verifier.derive import (
    Mismatch,
    compare_derivation,
    decode_or_empty,
    derive_block,
)
from oracle_node.pipeline.verifier.reverts import RevertBook
from oracle_node.rollup import pubdata as pd
from oracle_node.store.db import NodeStore
from oracle_node.types import BlockNumber, Epoch, RollupChainId

if TYPE_CHECKING:
    from trio import TaskStatus

log = logging.getLogger("oracle_node.verifier")

ChainFact = (RootProven | BlockCommitted | PriorityRequestQueued | RootConfirmed | EventRetracted
             | BlocksReverted)
"""Everything a chain watcher emits."""

ZERO32 = b"\x00" * 32
SETTLED_BLOCKS = 32
"""Verified blocks whose observations are kept for a re-verification after a revert
(``revertBlocks`` reverts at most 32 blocks per call)."""


@dataclass
class _Pending:
    proven: dict[RollupChainId, RootProven] = field(default_factory=dict)
    committed: dict[RollupChainId, BlockCommitted] = field(default_factory=dict)
    first_seen: float = 0.0


class Verifier:
    """Consumes chain facts, emits ``RootVerified`` (to the signer) and step records."""

    def __init__(self, *, facts: trio.MemoryReceiveChannel[ChainFact],
                 verified: trio.MemorySendChannel[RootVerified],
                 steps: trio.MemorySendChannel[StepRecorded],
                 chains: Sequence[RollupChainId], da_chain: RollupChainId, epoch: Epoch,
                 store: NodeStore, metrics: NodeMetrics, workers: WorkerPool,
                 genesis_state_root: bytes = ZERO32,
                 replayer: StateReplayer | None = None,
                 rejections: trio.MemorySendChannel[RootRejected] | None = None) -> None:
        """Wire the verifier; ``chains`` is the ascending rollup chain id list C.

        ``workers`` runs replay and re-derivation (a thread in the node, inline in the sim).
        """
        self._facts = facts
        self._verified = verified
        self._steps = steps
        self._chains = tuple(sorted(chains))
        self._da = da_chain
        self._epoch = epoch
        self._store = store
        self._metrics = metrics
        self._genesis_root = genesis_state_root
        self._replayer = replayer
        self._workers = workers
        self._rejections = rejections
        self._pending: dict[int, _Pending] = {}
        self._queues: dict[int, dict[int, PriorityRequestQueued]] = {c: {} for c in chains}
        self._consumed = ConsumedSerials()
        self._reverts = RevertBook[PriorityRequestQueued]()
        self._settled: OrderedDict[int, _Pending] = OrderedDict()

    @property
    def queued_requests(self) -> int:
        """Priority requests held for matching (queued on a chain, not yet consumed)."""
        return sum(len(q) for q in self._queues.values())

    @property
    def reverts(self) -> RevertBook[PriorityRequestQueued]:
        """Revert bookkeeping (status, tests)."""
        return self._reverts

    @property
    def consumed_serials(self) -> ConsumedSerials:
        """What verified blocks consumed (status, tests)."""
        return self._consumed

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Process facts until the input channel closes."""
        task_status.started()
        async with self._facts, self._verified:
            async for fact in self._facts:
                await self._handle(fact)

    async def _handle(self, fact: ChainFact) -> None:
        if isinstance(fact, PriorityRequestQueued):
            # A rescan after a restart re-reports requests that verified blocks consumed.
            if not self._consumed.consumed(int(fact.chain), fact.serial_id):
                self._queues.setdefault(fact.chain, {})[fact.serial_id] = fact
            return
        if isinstance(fact, RootConfirmed):
            return
        if isinstance(fact, BlocksReverted):
            if fact.chain not in self._chains:
                self._metrics.inc(self._metrics.drops, reason="unknown_chain")
                return
            await self._revert(fact.chain, self._reverts.on_explicit(
                int(fact.chain), int(fact.from_block), int(fact.to_block)))
            return
        if isinstance(fact, EventRetracted):
            if fact.kind == "BlockCommitted":
                self._reverts.on_retracted_commit(int(fact.chain), int(fact.block_number))
            pending = self._pending.get(fact.block_number)
            if pending is not None:
                if fact.kind == "BlockProven":
                    pending.proven.pop(fact.chain, None)
                elif fact.kind == "BlockCommitted":
                    pending.committed.pop(fact.chain, None)
            if fact.kind in ("DepositQueued", "FullExitQueued"):
                self._queues.get(fact.chain, {}).pop(int(fact.block_number), None)
            return
        if fact.chain not in self._chains:
            self._metrics.inc(self._metrics.drops, reason="unknown_chain")
            return
        block = int(fact.block_number)
        if isinstance(fact, BlockCommitted):
            implied = self._reverts.on_commit(int(fact.chain), block,
                                              (fact.l1_block_number, fact.l1_block_hash))
            if implied is not None:
                await self._revert(fact.chain, implied)
            self._reverts.observed(int(fact.chain), block)  # its proofs follow this commit
        pending = self._pending.setdefault(block, _Pending(first_seen=trio.current_time()))
        if isinstance(fact, RootProven):
            pending.proven[fact.chain] = fact
            self._store.record_observed_root(block, fact.chain, fact.final_root,
                                             fact.l1_block_number)
            self._metrics.inc(self._metrics.roots_observed, chain=fact.chain)
            if len(pending.proven) == len(self._chains):
                await self._step(block, "observed", True)
        else:
            pending.committed[fact.chain] = fact
            if fact.chain == self._da and not self._reverts.reopened(block):
                await self._catch_up(fact)
                if self._store.verified(block) is not None:
                    self._reverts.retain(block, self._consume(decode_or_empty(fact.pubdata)))
        await self._try_from(block)

    async def _revert(self, chain: RollupChainId, blocks: range) -> None:
        """``chain`` reverted ``blocks``: drop its observations, reopen their outcomes."""
        if not blocks:
            return
        log.warning("blocks_reverted chain=%d from=%d to=%d", chain, blocks.start,
                    blocks.stop - 1)
        lowest: int | None = None
        for block in blocks:
            pending = self._pending.get(block)
            if pending is None and block in self._settled:
                pending = self._pending[block] = self._settled.pop(block)
            if pending is None and self._store.verified(block) is not None:
                # too old to re-verify: the outcome stays (and so does the signature)
                self._metrics.inc(self._metrics.drops, reason="revert_too_deep")
                log.error("revert_too_deep chain=%d block=%d", chain, block)
                continue
            if pending is not None:
                pending.proven.pop(chain, None)
                pending.committed.pop(chain, None)
            self._reverts.revert(int(chain), block)
            lowest = block if lowest is None else lowest
            for req in self._reverts.restore(block):
                self._queues.setdefault(req.chain, {})[req.serial_id] = req
            await self._step(block, "reverted", True)
        if lowest is not None:  # blocks kept final keep their replayed state
            self._rollback(lowest - 1)

    def _settle_pending(self, block: int) -> None:
        """Keep a verified block's observations a while (a revert may need them again)."""
        pending = self._pending.pop(block, None)
        if pending is None:
            return
        self._settled[block] = pending
        self._settled.move_to_end(block)
        while len(self._settled) > SETTLED_BLOCKS:
            self._settled.popitem(last=False)

    def _rollback(self, height: int) -> bool:
        """Roll the replayer back to ``height`` when it is above (False: not possible)."""
        replayer = self._replayer
        if replayer is None or replayer.height <= height:
            return True
        if replayer.rollback(height):
            return True
        self._metrics.inc(self._metrics.drops, reason="replay_rollback_failed")
        log.error("replay_rollback_failed height=%d replayer=%d", height, replayer.height)
        return False

    async def _catch_up(self, fact: BlockCommitted) -> None:
        """After a restart, replay already-verified blocks so the replayer reaches the tip."""
        replayer = self._replayer
        stored = self._store.verified(int(fact.block_number))
        if replayer is None or stored is None or replayer.height != int(fact.block_number) - 1:
            return
        try:
            root = await self._workers.run_sync(
                lambda: replayer.replay(int(fact.block_number), fact.pubdata))
        except RollupError as err:
            root = b"invalid: " + str(err).encode()
        if root != stored[1]:
            self._metrics.inc(self._metrics.drops, reason="replay_catch_up_mismatch")
            log.error("replay_catch_up_mismatch block=%d", fact.block_number)

    async def _try_from(self, block: int) -> None:
        """Verify ``block`` and then every following block that became verifiable."""
        while await self._try_verify(block):
            block += 1

    async def _try_verify(self, block: int) -> bool:
        pending = self._pending.get(block)
        if pending is None or len(pending.proven) < len(self._chains):
            return False
        committed = pending.committed.get(self._da)
        if committed is None:
            return False
        if not self._reverts.reopened(block):
            if self._store.verified(block) is not None:
                self._settle_pending(block)
                return False
            if self._store.rejected(block) is not None:
                return False  # kept: a revert of some chains may make it verifiable
        if block == 1:
            prev: tuple[bytes, bytes] | None = (ZERO32, self._genesis_root)
        elif self._reverts.reopened(block - 1):
            prev = None
        else:
            prev = self._store.verified(block - 1)
        if prev is None:
            return False
        roots = {p.final_root for p in pending.proven.values()}
        if len(roots) != 1 and self._reverts.any_stale(pending.proven, block):
            return False  # a chain still holds pre-revert proofs: its revert is on its way
        if len(roots) != 1:
            detail = ", ".join(f"chain {c}: 0x{p.final_root.hex()}"
                               for c, p in sorted(pending.proven.items()))
            await self._reject(block, "roots_differ", detail)
            return False
        (proven_root,) = roots
        if not self._rollback(block - 1):
            await self._reject(block, "replay_rollback_failed",
                               f"replayer cannot return to block {block - 1}")
            return False
        self._metrics.inc(self._metrics.rederivations)
        queues = {c: dict(q) for c, q in self._queues.items()}
        try:
            derived = await self._workers.run_sync(
                lambda: derive_block(block_number=block, pubdata=committed.pubdata,
                                     prev_sync_hash=prev[0], prev_state_root=prev[1],
                                     new_state_root=committed.new_state_root,
                                     chains=self._chains, queues=queues,
                                     replayer=self._replayer))
            compare_derivation(derived, committed, pending.committed, proven_root)
        except Mismatch as err:
            self._rollback(block - 1)  # the refused block's DA data is discarded
            await self._reject(block, err.reason, err.detail)
            return False
        self._store.record_verified(block, derived.sync_hash, derived.new_state_root,
                                    self._epoch)
        self._settle_pending(block)
        self._reverts.settle(block)
        self._reverts.forget(block)
        self._reverts.retain(block, self._consume(derived.ops))
        log.info("root_verified block=%d final_root=0x%s", block, derived.sync_hash.hex())
        await self._step(block, "verified", True)
        await self._verified.send(RootVerified(BlockNumber(block), derived.sync_hash,
                                               self._epoch))
        return True

    def _consume(self, ops: Sequence[pd.Op]) -> list[PriorityRequestQueued]:
        """Forget the priority requests a verified block executed (bounded memory).

        Returns the forgotten requests (kept a while in case the block is reverted)."""
        taken: list[PriorityRequestQueued] = []
        for op in ops:
            if isinstance(op, pd.Deposit | pd.FullExit):
                self._consumed.add(op.chain_id, op.serial_id)
                req = self._queues.get(op.chain_id, {}).pop(op.serial_id, None)
                if req is not None:
                    taken.append(req)
        return taken

    async def _reject(self, block: int, reason: str, detail: str) -> None:
        first = self._store.record_rejected(block, reason, detail)
        if not first and not self._reverts.reopened(block):
            return
        self._reverts.settle(block)
        self._metrics.inc(self._metrics.mismatches, reason=reason)
        log.warning("root_rejected block=%d reason=%s detail=%r", block, reason, detail)
        await self._step(block, "verified", False, reason)
        if self._rejections is not None:
            await self._rejections.send(RootRejected(BlockNumber(block), reason, detail))

    async def _step(self, block: int, step: str, ok: bool, reason: str = "") -> None:
        await self._steps.send(StepRecorded(BlockNumber(block), step, ok, trio.current_time(),
                                            reason))
