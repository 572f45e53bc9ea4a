"""The Groth16 prover for rollup blocks (circom circuit, groth16py; synchronous, no trio).

TESTNET ONLY: ``load_or_setup`` uses a single-party setup; production imports a ceremony
``.zkey`` with ``import_ceremony_zkey``. See docs/prover.md.
"""

from oracle_node.prover.circuit import circuit_hash, render_circuit
from oracle_node.prover.keys import (
    TESTNET_SETUP_WARNING,
    ProverKeys,
    default_cache_dir,
    import_ceremony_zkey,
    load_or_setup,
    load_verifying_key,
    vyper_verifier_source,
)
from oracle_node.prover.prove import BlockProof, prove_block, split_proof, verify_block_proof
from oracle_node.prover.wasm_witness import CircuitAssertionError, WitnessCalculator
from oracle_node.prover.witness import BlockWitness, WitnessError, build_witness

__all__ = [
    "TESTNET_SETUP_WARNING", "BlockProof", "BlockWitness", "CircuitAssertionError",
    "ProverKeys", "WitnessCalculator", "WitnessError",
    "build_witness", "circuit_hash", "default_cache_dir", "import_ceremony_zkey",
    "load_or_setup", "load_verifying_key", "prove_block", "render_circuit", "split_proof",
    "verify_block_proof", "vyper_verifier_source",
]
