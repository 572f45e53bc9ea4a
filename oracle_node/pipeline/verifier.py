"""Verifier: every chain proved the same root, and the node re-derives that root itself.

For block N the verifier waits until every connected chain reported ``RootProven`` and the DA
chain reported ``BlockCommitted`` (the pubdata), and block N-1 is verified (its final_root is
``syncHash_{N-1}``). Then, in a capacity-limited worker thread, it decodes the pubdata,
checks every deposit/full exit against the holding chain's ``PriorityRequestQueued`` facts,
replays the state transition (when a replayer is plugged in), and recomputes commitment,
every chain's opsHash, syncHash and final_root (docs/protocol.md §4). Any difference is a
``RootRejected`` with one stable reason, logged once and counted: never a signature.

Reason codes: ``roots_differ`` (chains proved different roots), ``pubdata_invalid``,
``priority_mismatch``, ``state_root_mismatch``, ``commitment_mismatch``,
``ops_hash_mismatch``, ``sync_hash_mismatch``, ``final_root_mismatch``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from oracle_node.errors import RollupError
from oracle_node.metrics import NodeMetrics
from oracle_node.pipeline.messages import (
    BlockCommitted,
    EventRetracted,
    PriorityRequestQueued,
    RootConfirmed,
    RootProven,
    RootRejected,
    RootVerified,
    StepRecorded,
)
from oracle_node.pipeline.ports import StateReplayer
from oracle_node.rollup import hashes
from oracle_node.rollup import pubdata as pd
from oracle_node.store.db import NodeStore
from oracle_node.types import BlockNumber, Epoch, RollupChainId

if TYPE_CHECKING:
    from trio import TaskStatus

log = logging.getLogger("oracle_node.verifier")

ChainFact = RootProven | BlockCommitted | PriorityRequestQueued | RootConfirmed | EventRetracted
"""Everything a chain watcher emits."""

ZERO32 = b"\x00" * 32
CONSUMED_WINDOW = 4096
"""Consumed priority serials remembered exactly per chain above the watermark (see
:class:`ConsumedSerials`)."""


class Mismatch(Exception):
    """Internal: carries the one reason code out of the worker thread."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Derivation:
    """What the node computed for a block."""

    commitment: bytes
    ops_hashes: tuple[bytes, ...]
    sync_hash: bytes
    new_state_root: bytes


def derive_block(*, block_number: int, pubdata: bytes, prev_sync_hash: bytes,
                 prev_state_root: bytes, new_state_root: bytes,
                 chains: Sequence[int],
                 queues: Mapping[int, Mapping[int, PriorityRequestQueued]],
                 replayer: StateReplayer | None) -> Derivation:
    """Re-derive a block's hashes from its pubdata (pure; runs in a worker thread).

    Raises :class:`Mismatch` with a stable reason when the data does not check out.
    """
    try:
        ops = pd.decode_block_pubdata(pubdata)
    except RollupError as err:
        raise Mismatch("pubdata_invalid", str(err)) from err
    for op in ops:
        if isinstance(op, pd.Deposit | pd.FullExit | pd.Withdraw) and op.chain_id not in chains:
            raise Mismatch("pubdata_invalid", f"op for unknown chain {op.chain_id}")
        if isinstance(op, pd.Deposit | pd.FullExit):
            _check_priority(op, queues.get(op.chain_id, {}))
    if replayer is not None:
        try:
            replayed = replayer.replay(block_number, pubdata)
        except RollupError as err:
            raise Mismatch("pubdata_invalid", f"replay failed: {err}") from err
        if replayed != new_state_root:
            raise Mismatch("state_root_mismatch",
                           f"replayed 0x{replayed.hex()} != committed 0x{new_state_root.hex()}")
    try:
        commitment = hashes.commitment(block_number, prev_state_root, new_state_root, pubdata)
        ops_hashes = tuple(hashes.ops_hash(ops, c) for c in chains)
        sync = hashes.final_root(prev_sync_hash, commitment, ops_hashes)
    except RollupError as err:
        raise Mismatch("pubdata_invalid", str(err)) from err
    return Derivation(commitment, ops_hashes, sync, new_state_root)


def _check_priority(op: pd.Deposit | pd.FullExit,
                    queue: Mapping[int, PriorityRequestQueued]) -> None:
    req = queue.get(op.serial_id)
    where = f"chain {op.chain_id} serial {op.serial_id}"
    if req is None:
        raise Mismatch("priority_mismatch", f"{where} not in the chain's priority queue")
    if isinstance(op, pd.Deposit):
        ok = (req.kind == "deposit" and req.owner == op.owner and req.token == op.token
              and req.amount == op.amount)
    else:
        ok = (req.kind == "full_exit" and req.owner == op.owner and req.token == op.token
              and req.account_id == op.account_id)
    if not ok:
        raise Mismatch("priority_mismatch", f"{where} differs from the queued request")


class ConsumedSerials:
    """Per chain: which priority-request serials verified blocks already consumed.

    A watermark (every serial below it is consumed) plus the consumed serials above it. The
    contracts' priority queues are FIFO, so the watermark advances and the set stays small;
    out-of-order consumption is still exact up to ``window`` serials per chain, beyond which
    the lowest are folded into the watermark (memory stays bounded whatever the input).
    """

    def __init__(self, window: int = CONSUMED_WINDOW) -> None:
        """Start with nothing consumed."""
        self._window = window
        self._floor: dict[int, int] = {}
        self._above: dict[int, set[int]] = {}

    def add(self, chain: int, serial: int) -> None:
        """Record ``serial`` on ``chain`` as consumed."""
        floor = self._floor.get(chain, 0)
        if serial < floor:
            return
        above = self._above.setdefault(chain, set())
        above.add(serial)
        while floor in above:
            above.remove(floor)
            floor += 1
        if len(above) > self._window:
            for low in sorted(above)[: len(above) - self._window]:
                above.remove(low)
                floor = low + 1
        self._floor[chain] = floor

    def consumed(self, chain: int, serial: int) -> bool:
        """Whether a verified block consumed ``serial`` on ``chain``."""
        return serial < self._floor.get(chain, 0) or serial in self._above.get(chain, ())

    def __len__(self) -> int:
        """Serials remembered individually (above the watermarks)."""
        return sum(len(s) for s in self._above.values())


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
                 store: NodeStore, metrics: NodeMetrics,
                 genesis_state_root: bytes = ZERO32,
                 replayer: StateReplayer | None = None,
                 limiter: trio.CapacityLimiter | None = None,
                 rejections: trio.MemorySendChannel[RootRejected] | None = None) -> None:
        """Wire the verifier; ``chains`` is the ascending rollup chain id list C."""
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
        self._limiter = limiter or trio.CapacityLimiter(1)
        self._rejections = rejections
        self._pending: dict[int, _Pending] = {}
        self._queues: dict[int, dict[int, PriorityRequestQueued]] = {c: {} for c in chains}
        self._consumed = ConsumedSerials()

    @property
    def queued_requests(self) -> int:
        """Priority requests held for matching (queued on a chain, not yet consumed)."""
        return sum(len(q) for q in self._queues.values())

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
        if isinstance(fact, EventRetracted):
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
            if fact.chain == self._da:
                await self._catch_up(fact)
                if self._store.verified(block) is not None:
                    self._consume(fact.pubdata)
        await self._try_from(block)

    async def _catch_up(self, fact: BlockCommitted) -> None:
        """After a restart, replay already-verified blocks so the replayer reaches the tip."""
        replayer = self._replayer
        stored = self._store.verified(int(fact.block_number))
        if replayer is None or stored is None or replayer.height != int(fact.block_number) - 1:
            return
        try:
            root = await trio.to_thread.run_sync(replayer.replay, int(fact.block_number),
                                                 fact.pubdata, limiter=self._limiter)
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
        if self._store.verified(block) is not None or self._store.rejected(block) is not None:
            self._pending.pop(block, None)
            return False
        if block == 1:
            prev: tuple[bytes, bytes] | None = (ZERO32, self._genesis_root)
        else:
            prev = self._store.verified(block - 1)
        if prev is None:
            return False
        roots = {p.final_root for p in pending.proven.values()}
        if len(roots) != 1:
            detail = ", ".join(f"chain {c}: 0x{p.final_root.hex()}"
                               for c, p in sorted(pending.proven.items()))
            await self._reject(block, "roots_differ", detail)
            return False
        (proven_root,) = roots
        self._metrics.inc(self._metrics.rederivations)
        queues = {c: dict(q) for c, q in self._queues.items()}
        try:
            derived = await trio.to_thread.run_sync(
                lambda: derive_block(block_number=block, pubdata=committed.pubdata,
                                     prev_sync_hash=prev[0], prev_state_root=prev[1],
                                     new_state_root=committed.new_state_root,
                                     chains=self._chains, queues=queues,
                                     replayer=self._replayer),
                limiter=self._limiter)
            self._compare(derived, committed, pending, proven_root)
        except Mismatch as err:
            await self._reject(block, err.reason, err.detail)
            return False
        self._store.record_verified(block, derived.sync_hash, derived.new_state_root,
                                    self._epoch)
        self._pending.pop(block, None)
        self._consume(committed.pubdata)
        log.info("root_verified block=%d final_root=0x%s", block, derived.sync_hash.hex())
        await self._step(block, "verified", True)
        await self._verified.send(RootVerified(BlockNumber(block), derived.sync_hash,
                                               self._epoch))
        return True

    def _consume(self, pubdata: bytes) -> None:
        """Forget the priority requests a verified block executed (bounded memory)."""
        try:
            ops = pd.decode_block_pubdata(pubdata)
        except RollupError:
            return  # a verified block's pubdata decodes; nothing to prune otherwise
        for op in ops:
            if isinstance(op, pd.Deposit | pd.FullExit):
                self._consumed.add(op.chain_id, op.serial_id)
                self._queues.get(op.chain_id, {}).pop(op.serial_id, None)

    def _compare(self, d: Derivation, committed: BlockCommitted, pending: _Pending,
                 proven_root: bytes) -> None:
        for chain, other in sorted(pending.committed.items()):
            if other.commitment != d.commitment:
                raise Mismatch("commitment_mismatch",
                               f"chain {chain} committed 0x{other.commitment.hex()}, "
                               f"re-derived 0x{d.commitment.hex()}")
        if tuple(committed.ops_hashes) != d.ops_hashes:
            raise Mismatch("ops_hash_mismatch", "DA chain's opsHashes differ from re-derived")
        if committed.sync_hash != d.sync_hash:
            raise Mismatch("sync_hash_mismatch",
                           f"committed 0x{committed.sync_hash.hex()}, "
                           f"re-derived 0x{d.sync_hash.hex()}")
        if proven_root != d.sync_hash:
            raise Mismatch("final_root_mismatch",
                           f"proved 0x{proven_root.hex()}, re-derived 0x{d.sync_hash.hex()}")

    async def _reject(self, block: int, reason: str, detail: str) -> None:
        if not self._store.record_rejected(block, reason, detail):
            return
        self._pending.pop(block, None)
        self._metrics.inc(self._metrics.mismatches, reason=reason)
        log.warning("root_rejected block=%d reason=%s detail=%r", block, reason, detail)
        await self._step(block, "verified", False, reason)
        if self._rejections is not None:
            await self._rejections.send(RootRejected(BlockNumber(block), reason, detail))

    async def _step(self, block: int, step: str, ok: bool, reason: str = "") -> None:
        await self._steps.send(StepRecorded(BlockNumber(block), step, ok, trio.current_time(),
                                            reason))
