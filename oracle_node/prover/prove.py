"""Prove and verify rollup blocks (synchronous; call ``prove_block`` from a worker thread).

``groth16py.prove`` releases the GIL, so the node runs it in ``trio.to_thread.run_sync``
while the event loop keeps serving peers.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import groth16py

from oracle_node.errors import ProverError
from oracle_node.prover.keys import ProverKeys
from oracle_node.prover.wasm_witness import CircuitAssertionError
from oracle_node.prover.witness import build_witness
from oracle_node.rollup.state import State

PROOF_BYTES = 256


@dataclass(frozen=True)
class BlockProof:
    """A Groth16 proof (``a ‖ b ‖ c``, 256 bytes) and the public inputs it is for."""

    block_number: int
    proof: bytes
    public_inputs: tuple[int, ...]
    new_state_root: int

    def calldata_parts(self) -> tuple[list[int], list[list[int]], list[int]]:
        """``(a, b, c)`` as the Vyper verifier's ``verifyProof`` expects them."""
        return split_proof(self.proof)


def split_proof(proof: bytes) -> tuple[list[int], list[list[int]], list[int]]:
    """Split a 256-byte proof blob into ``a: uint256[2]``, ``b: uint256[2][2]``, ``c``."""
    if len(proof) != PROOF_BYTES:
        raise ProverError(f"a proof is {PROOF_BYTES} bytes, got {len(proof)}")
    words = [int.from_bytes(proof[i:i + 32], "big") for i in range(0, PROOF_BYTES, 32)]
    return words[0:2], [words[2:4], words[4:6]], words[6:8]


def prove_block(keys: ProverKeys, state: State, block_number: int, pubdata: bytes,
                chain_ids: Iterable[int]) -> BlockProof:
    """Prove block ``block_number`` (``pubdata``) applied to the pre-block ``state``.

    ``state`` is not modified. Raise ProverError if the block is invalid or proving fails."""
    if state.params != keys.params:
        raise ProverError(f"state params {state.params} differ from the circuit's {keys.params}")
    witness = build_witness(state, block_number, pubdata, frozenset(chain_ids))
    try:
        proof = _prove(keys, witness.inputs)
    except CircuitAssertionError as err:
        raise ProverError(f"block {block_number}: the witness breaks the circuit (core and "
                          f"circuit disagree): {err}") from err
    except (groth16py.WitnessError, groth16py.EncodingError, ValueError, OSError) as err:
        raise ProverError(f"proving block {block_number} failed: {err}") from err
    if len(proof) != PROOF_BYTES:
        raise ProverError(f"groth16py returned a {len(proof)}-byte proof")
    # groth16py's witness generator does not stop on a failed `===`; a witness that breaks
    # the circuit yields a proof that does not verify, so check before handing it out.
    if not verify_block_proof(keys, bytes(proof), witness.public_inputs):
        raise ProverError(f"block {block_number}: the proof does not verify (witness breaks "
                          "the circuit: core and circuit disagree)")
    return BlockProof(block_number, bytes(proof), tuple(witness.public_inputs),
                      witness.new_state_root)


def _prove(keys: ProverKeys, inputs: dict[str, Any]) -> bytes:
    """Witness + Groth16 proof: the circuit's wasm under wasmtime then ``prove_wtns`` when
    available (witness ~0.1 s), else groth16py's interpreted generator (~1.4 s at d16/k4)."""
    calculator = keys.witness_calculator()
    if calculator is None:
        return bytes(groth16py.prove(keys.pk, inputs))
    wtns = calculator.wtns(inputs)
    pk = keys.pk
    fd, name = tempfile.mkstemp(prefix="oracle-witness-", suffix=".wtns")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(wtns)
        return bytes(groth16py.prove_wtns(pk, name))
    finally:
        os.unlink(name)


def verify_block_proof(keys: ProverKeys, proof: bytes, public_inputs: Sequence[int]) -> bool:
    """True iff ``proof`` verifies for ``public_inputs`` under ``keys.vk`` (False if malformed)."""
    try:
        return bool(keys.verifier().verify(proof, list(public_inputs)))
    except (groth16py.VerificationError, groth16py.EncodingError, ValueError):
        return False
