"""A small sequencer for the in-process cluster: real blocks from the rollup core.

Each block: one deposit queued on a rotating chain (``DepositQueued``), that deposit plus a
transfer between existing accounts executed by ``oracle_node.rollup.block.build_block``,
then ``BlockCommitted`` and ``BlockProven`` on every chain (no proofs in the simulator).
A *lie* makes the sequencer tell one chain a different opsHash of another chain for one
block, so that chain's syncHash (its final_root) differs from the others' from then on.
:meth:`SimSequencer.revert_and_recommit` is the sequencer's way out: ``revertBlocks`` on every
chain, then the same blocks recommitted and re-proved honestly (new logs, same numbers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from eth_utils.crypto import keccak

from oracle_node.rollup import hashes
from oracle_node.rollup.block import BlockResult, build_block
from oracle_node.rollup.pubdata import Deposit, Op, Transfer
from oracle_node.rollup.state import RollupParams, State
from testnet.sim.contract import FakeMainContract


@dataclass(frozen=True)
class Lie:
    """At ``block``, tell ``chain`` a wrong opsHash for ``about_chain``."""

    block: int
    chain: int
    about_chain: int


@dataclass
class SimSequencer:
    """Builds and posts blocks; ``results`` keeps what it built (the honest view)."""

    contracts: Mapping[int, FakeMainContract]
    params: RollupParams = field(default_factory=lambda: RollupParams(depth=8, capacity=4))
    lie: Lie | None = None
    state: State = field(init=False)
    results: dict[int, BlockResult] = field(default_factory=dict)
    proven_roots: dict[int, dict[int, bytes]] = field(default_factory=dict)
    """block -> chain -> the final_root that chain proved."""
    _prev_sync: dict[int, bytes] = field(default_factory=dict)
    _owners: list[bytes] = field(default_factory=list)
    _nonces: dict[int, int] = field(default_factory=dict)
    _ops: dict[int, list[Op]] = field(default_factory=dict)
    _before: dict[int, tuple[State, dict[int, bytes]]] = field(default_factory=dict)
    """block -> (state, per-chain syncHash) before it (for reverts)."""

    def __post_init__(self) -> None:
        self.state = State(self.params)
        self._prev_sync = {c: hashes.ZERO_HASH for c in self.contracts}

    @property
    def chain_ids(self) -> tuple[int, ...]:
        """Connected chains, ascending."""
        return tuple(sorted(self.contracts))

    def genesis_state_root(self) -> bytes:
        """The state root before block 1 (bytes32)."""
        return hashes.root_to_bytes(State(self.params).root)

    def next_block(self) -> BlockResult:
        """Queue a deposit, build the next block and post commit + prove on every chain."""
        number = len(self.results) + 1
        chains = self.chain_ids
        chain = chains[number % len(chains)]
        owner = keccak(number.to_bytes(8, "big"))[:20]
        amount = 1_000 + number
        serial = self.contracts[chain].queue_deposit(owner, 1, amount)
        self._owners.append(owner)
        account_id = len(self._owners)
        ops: list[Op] = [Deposit(chain, account_id, 1, amount, owner, serial)]
        if account_id > 1:
            sender = account_id - 1
            nonce = self._nonces.get(sender, 0)
            ops.append(Transfer(sender, 1, 1, account_id, nonce))
            self._nonces[sender] = nonce + 1
        self._ops[number] = ops
        return self._post(number)

    def revert_and_recommit(self, from_block: int) -> None:
        """``revertBlocks`` of ``from_block``..top on every chain, then repost them honestly."""
        top = len(self.results)
        for c in self.chain_ids:
            self.contracts[c].revert_blocks(from_block, top)
        state, prev_sync = self._before[from_block]
        self.state = state.copy()
        self._prev_sync = dict(prev_sync)
        self.lie = None
        for number in range(from_block, top + 1):
            self._post(number)

    def _post(self, number: int) -> BlockResult:
        chains = self.chain_ids
        self._before[number] = (self.state.copy(), dict(self._prev_sync))
        honest_prev = self._prev_sync[chains[0]]
        result = build_block(self.state, self._ops[number], number, honest_prev, chains)
        self.results[number] = result
        self.proven_roots[number] = {}
        for c in chains:
            ops_hashes = list(result.ops_hashes)
            if self.lie is not None and self.lie.block == number and self.lie.chain == c:
                index = chains.index(self.lie.about_chain)
                ops_hashes[index] = keccak(b"lie" + ops_hashes[index])
            sync = hashes.sync_hash(self._prev_sync[c], result.commitment, ops_hashes)
            contract = self.contracts[c]
            contract.commit(number, result.commitment, sync, result.new_state_root_bytes,
                            result.pubdata, tuple(ops_hashes))
            contract.prove(number, sync, result.new_state_root_bytes)
            self.proven_roots[number][c] = sync
            self._prev_sync[c] = sync
        return result
