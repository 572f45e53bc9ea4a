"""The verifier's ``StateReplayer`` over the rollup core, and the rollup parameters of a node.

:class:`RollupReplayer` keeps the last replayed states so a ``revertBlocks`` on the DA chain
rolls the replica back instead of rebuilding it from genesis.
"""

from __future__ import annotations

from collections.abc import Sequence

from oracle_node.config import NodeConfig
from oracle_node.errors import ConfigError, RollupError
from oracle_node.rollup.block import Replayer
from oracle_node.rollup.hashes import root_to_bytes
from oracle_node.rollup.state import RollupParams, State

REPLAY_SNAPSHOTS = 64
"""Replayed states kept for rolling back reverted blocks (``revertBlocks`` takes <= 32)."""


class RollupReplayer:
    """``StateReplayer`` over the rollup core's incremental :class:`Replayer`."""

    def __init__(self, chain_ids: Sequence[int], params: RollupParams,
                 keep: int = REPLAY_SNAPSHOTS) -> None:
        """Start from the empty genesis state of ``params``; ``keep`` states for rollbacks."""
        self._replayer = Replayer(chain_ids, params)
        self._keep = keep
        self._snapshots: dict[int, tuple[State, bytes]] = {
            0: (self._replayer.state.copy(), self._replayer.sync_hash)}

    @property
    def height(self) -> int:
        """The last block applied."""
        return self._replayer.block_number

    def replay(self, block_number: int, pubdata: bytes) -> bytes:
        """Apply the next block; returns its new state root (bytes32)."""
        root = self._replayer.apply_block(block_number, pubdata).new_state_root_bytes
        self._snapshots[block_number] = (self._replayer.state.copy(), self._replayer.sync_hash)
        for old in [h for h in self._snapshots if h <= block_number - self._keep]:
            del self._snapshots[old]
        return root

    def rollback(self, height: int) -> bool:
        """Return to the state after block ``height`` (one of the last ``keep`` states)."""
        if height == self._replayer.block_number:
            return True
        held = self._snapshots.get(height)
        if held is None or height > self._replayer.block_number:
            return False
        self._replayer.state = held[0].copy()
        self._replayer.sync_hash = held[1]
        self._replayer.block_number = height
        for above in [h for h in self._snapshots if h > height]:
            del self._snapshots[above]
        return True


def rollup_params(config: NodeConfig) -> RollupParams:
    """The rollup core's parameters from ``[rollup]`` (ConfigError naming the key if invalid)."""
    r = config.rollup
    try:
        return RollupParams(depth=r.depth, token_slots=r.token_slots, capacity=r.capacity)
    except RollupError as err:
        raise ConfigError(f"rollup: {err}") from err


def genesis_state_root(params: RollupParams) -> bytes:
    """The state root of the empty genesis state (bytes32)."""
    return root_to_bytes(State(params).root)
