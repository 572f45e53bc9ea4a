"""Re-deriving a block from its pubdata, and comparing with what the chains committed.

Pure and synchronous: the verifier runs :func:`derive_block` on its worker pool (a thread in
the node). Every difference raises :class:`Mismatch` with one stable reason code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from oracle_node.errors import RollupError
from oracle_node.pipeline.messages import BlockCommitted, PriorityRequestQueued
from oracle_node.pipeline.ports import StateReplayer
from oracle_node.rollup import hashes
from oracle_node.rollup import pubdata as pd
from oracle_node.types import RollupChainId


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
    ops: tuple[pd.Op, ...]
    """The decoded operations (the verifier prunes consumed priority requests with them)."""


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
    return Derivation(commitment, ops_hashes, sync, new_state_root, tuple(ops))


def decode_or_empty(pubdata: bytes) -> list[pd.Op]:
    """A verified block's operations (its pubdata decodes; nothing to prune otherwise)."""
    try:
        return pd.decode_block_pubdata(pubdata)
    except RollupError:
        return []


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


def compare_derivation(d: Derivation, committed: BlockCommitted,
                       committed_by_chain: Mapping[RollupChainId, BlockCommitted],
                       proven_root: bytes) -> None:
    """Raise :class:`Mismatch` unless every chain's commitment, the DA chain's opsHashes and
    syncHash, and the proved root all equal the re-derivation ``d``."""
    for chain, other in sorted(committed_by_chain.items()):
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
