"""Block building and replay: from ops (sequencer) or pubdata (verifier) to final_root.

Both paths share ``_execute``: apply a block's ops to a scratch view of the accounts,
hash the dirty tree nodes once for the whole block, derive the pubdata, the commitment,
each chain's opsHash and syncHash (= final_root), and only then commit to the state. A bad
op raises :class:`InvalidOperation` (or a replay mismatch :class:`ReplayMismatch`) and the
state is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from oracle_node.errors import RollupError
from oracle_node.rollup import hashes
from oracle_node.rollup.pubdata import (
    OP_BYTES,
    Op,
    decode_block_pubdata,
    encode_block_pubdata,
    is_onchain_op_of,
)
from oracle_node.rollup.state import Account, RollupParams, State, op_updates
from oracle_node.rollup.tree import StagedUpdate


class ReplayMismatch(RollupError):
    """Raised when a replayed block disagrees with what the chain claims (root, commitment,
    opsHash, syncHash) or arrives out of order; the replayer's state is unchanged."""


@dataclass(frozen=True)
class BlockResult:
    """Everything derived from one block (roots as field elements and as bytes32)."""

    block_number: int
    ops: tuple[Op, ...]
    pubdata: bytes
    old_state_root: int
    new_state_root: int
    chain_ids: tuple[int, ...]
    ops_hashes: tuple[bytes, ...]
    commitment: bytes
    prev_sync_hash: bytes
    sync_hash: bytes

    @property
    def final_root(self) -> bytes:
        """``final_root_N = syncHash_N``."""
        return self.sync_hash

    @property
    def old_state_root_bytes(self) -> bytes:
        """The old state root as bytes32."""
        return hashes.root_to_bytes(self.old_state_root)

    @property
    def new_state_root_bytes(self) -> bytes:
        """The new state root as bytes32."""
        return hashes.root_to_bytes(self.new_state_root)

    def ops_hash_of(self, chain_id: int) -> bytes:
        """The opsHash of one connected chain."""
        return self.ops_hashes[self.chain_ids.index(chain_id)]

    def public_inputs(self) -> list[int]:
        """The Groth16 public inputs of this block (docs/protocol.md §3)."""
        return hashes.public_inputs(self.old_state_root, self.new_state_root,
                                    self.block_number, self.pubdata)


def _chain_order(chain_ids: Iterable[int]) -> tuple[int, ...]:
    ordered = tuple(sorted(set(chain_ids)))
    if not ordered or any(not 1 <= c <= 255 for c in ordered):
        raise RollupError(f"chain ids must be a non-empty set within 1..255, got {chain_ids}")
    return ordered


def _execute(state: State, ops: Sequence[Op], pubdata: bytes, block_number: int,
             prev_sync_hash: bytes, chains: tuple[int, ...]
             ) -> tuple[BlockResult, dict[int, Account], StagedUpdate]:
    if len(pubdata) != len(ops) * OP_BYTES:
        raise RollupError(f"{len(ops)} ops but {len(pubdata)} pubdata bytes")
    chain_set = frozenset(chains)
    scratch: dict[int, Account] = {}

    def get(account_id: int) -> Account:
        found = scratch.get(account_id)
        return found if found is not None else state.account(account_id)

    for op in ops:
        for update in op_updates(op, get, state.params, chain_set):
            scratch[update.account_id] = update.new
    # an account that ends the block as it started (e.g. a full exit of a foreign owner)
    # keeps its leaf: hashing its path again would change nothing
    staged = state.tree.stage({i: a.leaf() for i, a in scratch.items()
                               if a != state.account(i)})
    old_root, new_root = state.root, staged.root
    commitment = hashes.commitment(block_number, hashes.root_to_bytes(old_root),
                                   hashes.root_to_bytes(new_root), pubdata)
    # ``pubdata`` is the ops' encoding (built by encode_block_pubdata, or decoded strictly,
    # which accepts only canonical bytes), so each op's bytes are its 62-byte slice
    encoded = [pubdata[i * OP_BYTES:(i + 1) * OP_BYTES] for i in range(len(ops))]
    ops_hashes = tuple(hashes.ops_hash_of_encoded(
        e for e, op in zip(encoded, ops, strict=True) if is_onchain_op_of(op, c)) for c in chains)
    result = BlockResult(block_number, tuple(ops), pubdata, old_root, new_root, chains,
                         ops_hashes, commitment, prev_sync_hash,
                         hashes.sync_hash(prev_sync_hash, commitment, ops_hashes))
    return result, scratch, staged


def _commit(state: State, scratch: dict[int, Account], staged: StagedUpdate) -> None:
    state.tree.commit(staged)
    state.accounts.update(scratch)


def build_block(state: State, ops: Sequence[Op], block_number: int, prev_sync_hash: bytes,
                chain_ids: Iterable[int]) -> BlockResult:
    """Apply ``ops`` (at most ``capacity``; padded with Noop) to ``state`` as block N.

    Atomic: on InvalidOperation or PubdataError the state is unchanged."""
    chains = _chain_order(chain_ids)
    pubdata = encode_block_pubdata(ops, state.params.capacity)
    padded = decode_block_pubdata(pubdata)
    result, scratch, staged = _execute(state, padded, pubdata, block_number, prev_sync_hash,
                                       chains)
    _commit(state, scratch, staged)
    return result


@dataclass(frozen=True)
class Expected:
    """What a chain claims about block N; each field left None is not checked."""

    new_state_root: bytes | None = None
    commitment: bytes | None = None
    sync_hash: bytes | None = None
    ops_hashes: Sequence[bytes] | None = None


class Replayer:
    """Incremental replay of one chain's committed blocks from genesis (the node's verifier).

    Holds the state and the last syncHash; ``apply_block`` must be called for blocks
    1, 2, 3, … in order."""

    def __init__(self, chain_ids: Iterable[int], params: RollupParams | None = None,
                 genesis: State | None = None) -> None:
        self.chains = _chain_order(chain_ids)
        self.state = genesis.copy() if genesis is not None else State(params or RollupParams())
        if params is not None and self.state.params != params:
            raise RollupError("genesis state params differ from the given params")
        self.block_number = 0
        self.sync_hash = hashes.ZERO_HASH

    def apply_block(self, block_number: int, pubdata: bytes,
                    expected: Expected | None = None) -> BlockResult:
        """Replay block ``block_number`` from its pubdata and check it against ``expected``.

        Raise PubdataError / InvalidOperation / ReplayMismatch; on any error nothing changes."""
        if block_number != self.block_number + 1:
            raise ReplayMismatch(f"expected block {self.block_number + 1}, got {block_number}")
        if len(pubdata) != state_pubdata_len(self.state.params):
            raise ReplayMismatch(f"pubdata is {len(pubdata)} bytes, expected "
                                 f"{state_pubdata_len(self.state.params)}")
        ops = decode_block_pubdata(pubdata)
        result, scratch, staged = _execute(self.state, ops, pubdata, block_number,
                                           self.sync_hash, self.chains)
        if expected is not None:
            _check_expected(result, expected)
        _commit(self.state, scratch, staged)
        self.block_number = block_number
        self.sync_hash = result.sync_hash
        return result


def state_pubdata_len(params: RollupParams) -> int:
    """Pubdata bytes of one block for ``params`` (``capacity * OP_BYTES``)."""
    return params.capacity * OP_BYTES


def _check_expected(result: BlockResult, expected: Expected) -> None:
    checks = (("new_state_root", expected.new_state_root, result.new_state_root_bytes),
              ("commitment", expected.commitment, result.commitment),
              ("sync_hash", expected.sync_hash, result.sync_hash))
    for name, claimed, derived in checks:
        if claimed is not None and bytes(claimed) != derived:
            raise ReplayMismatch(f"block {result.block_number}: {name} {bytes(claimed).hex()} "
                                 f"!= derived {derived.hex()}")
    if expected.ops_hashes is not None and tuple(map(bytes, expected.ops_hashes)) != \
            result.ops_hashes:
        raise ReplayMismatch(f"block {result.block_number}: ops hashes differ")


def replay(blocks: Iterable[tuple[int, bytes]], chain_ids: Iterable[int],
           params: RollupParams | None = None, genesis: State | None = None
           ) -> list[BlockResult]:
    """Replay ``(block_number, pubdata)`` pairs from genesis; return every block's result."""
    replayer = Replayer(chain_ids, params, genesis)
    return [replayer.apply_block(number, pubdata) for number, pubdata in blocks]
