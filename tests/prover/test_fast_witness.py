"""Lazy proving keys and the wasmtime witness generator, on the small test circuit (8, 2).

Uses the cached keys of tests/prover/test_prover.py (set up on first use, TESTNET ONLY).
"""

from __future__ import annotations

import struct
from pathlib import Path

import groth16py
import pytest

from oracle_node.errors import ProverError
from oracle_node.prover import ProverKeys, load_or_setup, prove_block, verify_block_proof
from oracle_node.prover.keys import WASMTIME_ENV
from oracle_node.prover.wasm_witness import (
    CircuitAssertionError,
    WitnessCalculator,
    extract_wasm,
    wasmtime_available,
)
from oracle_node.prover.witness import build_witness
from oracle_node.rollup import Deposit, State, Transfer, build_block
from tests.prover.helpers import ALICE, BOB, CAPACITY, CHAINS, DEPTH, PARAMS

needs_wasmtime = pytest.mark.skipif(not wasmtime_available(), reason="wasmtime not installed")


def _block() -> tuple[State, bytes]:
    state = State(PARAMS)
    build_block(state, [Deposit(1, 1, 1, 1000, ALICE, 0), Deposit(2, 2, 2, 500, BOB, 1)], 1,
                bytes(32), CHAINS)
    before = state.copy()
    result = build_block(state, [Transfer(1, 1, 300, 2, 0), Deposit(1, 3, 1, 7, BOB, 2)], 2,
                         bytes(32), CHAINS)
    return before, result.pubdata


def test_cache_hit_is_lazy_and_verify_only_keys_refuse_to_prove() -> None:
    keys = load_or_setup(DEPTH, CAPACITY)
    assert keys.pk_path is not None
    assert keys.can_prove
    assert not keys.proving_key_loaded  # a cache hit reads only vk.bin + meta.json
    before, pubdata = _block()
    witness = build_witness(before, 2, pubdata, frozenset(CHAINS))
    assert not verify_block_proof(keys, bytes(256), witness.public_inputs)
    assert not keys.proving_key_loaded  # verifying never needs the proving key
    verify_only = ProverKeys(keys.params, None, keys.vk, keys.circuit_hash, True, keys.meta)
    assert not verify_only.can_prove
    with pytest.raises(ProverError, match="verify-only"):
        prove_block(verify_only, before, 2, pubdata, CHAINS)
    with pytest.raises(ProverError, match="proving key"):
        ProverKeys(keys.params, None, keys.vk, "x", True, {},
                   pk_path=Path("/nonexistent/pk.bin")).load_proving_key()


@needs_wasmtime
def test_wtns_matches_the_circuit_and_proves(keys: ProverKeys) -> None:
    assert keys.pk_path is not None
    calculator = WitnessCalculator.load(keys.pk_path)
    before, pubdata = _block()
    witness = build_witness(before, 2, pubdata, frozenset(CHAINS))
    wtns = calculator.wtns(witness.inputs)
    assert wtns[:4] == b"wtns"
    assert struct.unpack_from("<II", wtns, 4) == (2, 2)
    n8, = struct.unpack_from("<I", wtns, 24)
    size, = struct.unpack_from("<I", wtns, 28 + n8)
    assert n8 == 32
    assert len(wtns) == 44 + n8 + n8 * size
    assert struct.unpack_from("<IQ", wtns, 32 + n8) == (2, n8 * size)
    values = [int.from_bytes(wtns[44 + n8 + 32 * i:44 + n8 + 32 * (i + 1)], "little")
              for i in range(1 + len(witness.public_inputs))]
    assert values == [1, *witness.public_inputs]  # wire 0 is the constant 1, then publics
    assert calculator.wtns(witness.inputs) == wtns  # deterministic, fresh instance per call
    path = Path(str(keys.pk_path) + ".test.wtns")
    try:
        path.write_bytes(wtns)
        proof = bytes(groth16py.prove_wtns(keys.pk, str(path)))
    finally:
        path.unlink()
    assert verify_block_proof(keys, proof, witness.public_inputs)


@needs_wasmtime
def test_wtns_rejects_bad_inputs(keys: ProverKeys) -> None:
    assert keys.pk_path is not None
    calculator = WitnessCalculator.load(keys.pk_path)
    before, pubdata = _block()
    inputs = build_witness(before, 2, pubdata, frozenset(CHAINS)).inputs
    with pytest.raises(CircuitAssertionError):  # wrong new root breaks `===`
        calculator.wtns({**inputs, "new_root": inputs["new_root"] + 1})
    with pytest.raises(ProverError, match="values"):
        calculator.wtns({**inputs, "pubdata": inputs["pubdata"][:-1]})
    with pytest.raises(ProverError, match="field"):
        calculator.wtns({**inputs, "block_number": 1 << 254})
    with pytest.raises(ProverError, match="input values"):
        calculator.wtns({k: v for k, v in inputs.items() if k != "block_number"})


def test_extract_wasm_rejects_other_files(tmp_path: Path) -> None:
    bogus = tmp_path / "pk.bin"
    bogus.write_bytes(b"not a key")
    with pytest.raises(ProverError):
        extract_wasm(bogus)
    bogus.write_bytes(b"g16pk1" + bytes(64))
    with pytest.raises(ProverError, match="no witness wasm"):
        extract_wasm(bogus)


def test_fallback_to_groth16py_witness(keys: ProverKeys,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WASMTIME_ENV, "0")
    assert keys.witness_calculator() is None
    before, pubdata = _block()
    proof = prove_block(keys, before, 2, pubdata, CHAINS)
    assert verify_block_proof(keys, proof.proof, proof.public_inputs)
