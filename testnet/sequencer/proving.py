"""The sequencer's prover: ``oracle_node.prover`` keys (cached testnet setup) and proofs."""

from __future__ import annotations

import time
from pathlib import Path

from oracle_node.prover.keys import TESTNET_SETUP_WARNING, ProverKeys, load_or_setup
from oracle_node.prover.prove import prove_block
from oracle_node.rollup.block import BlockResult
from oracle_node.rollup.state import State
from testnet.sequencer.config import SequencerConfig
from testnet.sequencer.core import Prove
from testnet.sequencer.eventlog import EventLog


def load_keys(depth: int, capacity: int, cache_dir: Path | None, log: EventLog) -> ProverKeys:
    """Load (or set up, TESTNET ONLY) the circuit keys, logging the time it took."""
    start = time.monotonic()
    keys = load_or_setup(depth, capacity, cache_dir)
    log.emit("prover_keys", depth=depth, capacity=capacity, seconds=time.monotonic() - start,
             circuit_hash=keys.circuit_hash, warning=TESTNET_SETUP_WARNING)
    return keys


def make_prover(config: SequencerConfig, log: EventLog) -> Prove:
    """A ``Prove`` function for the configured circuit."""
    cache = Path(config.setup_cache) if config.setup_cache else None
    keys = load_keys(config.depth, config.capacity, cache, log)
    chain_ids = config.chain_ids

    def prove(before: State, result: BlockResult) -> bytes:
        proof = prove_block(keys, before, result.block_number, result.pubdata, chain_ids)
        return proof.proof

    return prove
