"""Real Groth16 proofs of real blocks with the small test circuit (depth 8, capacity 2).

The first run compiles and sets up the circuit (TESTNET ONLY single-party setup, ~6-10 s on
2 busy cores) and caches the keys under ``.cache/prover``; later runs load them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from oracle_node.errors import ProverError
from oracle_node.prover import (
    TESTNET_SETUP_WARNING,
    ProverKeys,
    circuit_hash,
    load_or_setup,
    prove_block,
    render_circuit,
    split_proof,
    verify_block_proof,
    vyper_verifier_source,
)
from oracle_node.prover.wasm_witness import wasmtime_available
from oracle_node.rollup import (
    Deposit,
    FullExit,
    Op,
    RollupParams,
    State,
    Transfer,
    Withdraw,
    build_block,
)
from oracle_node.rollup.pubdata import encode_block_pubdata
from tests.prover.helpers import ALICE, BOB, CAPACITY, CHAINS, PARAMS


def test_keys_shape(keys: ProverKeys) -> None:
    assert keys.vk.n_public == 3 + 2 * CAPACITY
    assert keys.testnet_setup
    assert keys.constraints is not None
    assert keys.constraints > 1000
    assert keys.circuit_hash == circuit_hash(PARAMS)
    assert "RollupBlock(8, 2, 2)" in render_circuit(PARAMS)
    source = vyper_verifier_source(keys)
    assert "def verifyProof" in source
    assert TESTNET_SETUP_WARNING in source


def test_real_blocks_prove_and_tampering_fails(keys: ProverKeys) -> None:
    state = State(PARAMS)
    blocks: list[list[Op]] = [
        [Deposit(1, 1, 1, 1000, ALICE, 0), Deposit(2, 2, 2, 500, BOB, 0)],
        [Transfer(1, 1, 300, 2, 0), Withdraw(2, 2, 2, 100, ALICE, 0)],
        [FullExit(1, 1, 1, 700, ALICE, 1), Transfer(2, 1, 300, 2, 1)],
    ]
    prev = bytes(32)
    for number, ops in enumerate(blocks, start=1):
        before = state.copy()
        result = build_block(state, ops, number, prev, CHAINS)
        prev = result.sync_hash
        if number == 2:
            continue  # keep the suite fast: prove the first block and the exit/self-transfer
        proof = prove_block(keys, before, number, result.pubdata, CHAINS)
        assert before.root == result.old_state_root  # the pre-state is not modified
        assert proof.public_inputs == tuple(result.public_inputs())
        assert proof.new_state_root == result.new_state_root
        assert len(proof.proof) == 256
        assert verify_block_proof(keys, proof.proof, proof.public_inputs)
        for position in (0, 1, 2, 3, 3 + 2 * CAPACITY - 1):
            tampered = list(proof.public_inputs)
            tampered[position] += 1
            assert not verify_block_proof(keys, proof.proof, tampered)
        flipped = bytearray(proof.proof)
        flipped[100] ^= 1
        assert not verify_block_proof(keys, bytes(flipped), proof.public_inputs)
        a, b, c = split_proof(proof.proof)
        assert [len(a), len(b), len(c)] == [2, 2, 2]


def test_invalid_block_is_not_proved(keys: ProverKeys) -> None:
    state = State(PARAMS)
    pubdata = encode_block_pubdata([Transfer(1, 1, 5, 2, 0)], CAPACITY)
    with pytest.raises(ProverError):
        prove_block(keys, state, 1, pubdata, CHAINS)
    with pytest.raises(ProverError):
        prove_block(keys, State(RollupParams(depth=8, token_slots=2, capacity=4)), 1,
                    encode_block_pubdata([], 4), CHAINS)
    assert not verify_block_proof(keys, b"\x00" * 10, [0] * (3 + 2 * CAPACITY))


def test_vyper_verifier_compiles(keys: ProverKeys) -> None:
    from deploy.compile import compile_source

    compiled = compile_source("BlockVerifier", vyper_verifier_source(keys))
    names = [entry.get("name") for entry in compiled.abi]
    assert "verifyProof" in names


@pytest.mark.slow  # a fresh (tiny) setup every run: ~3 s quiet, ~20 s on 2 busy cores
def test_cache_round_trip_with_tiny_circuit(tmp_path: Path) -> None:
    first = load_or_setup(2, 1, tmp_path)
    entries = sorted(p.name for p in tmp_path.iterdir())
    assert entries == [first.circuit_hash]
    names = sorted(p.name for p in (tmp_path / first.circuit_hash).iterdir())
    compiled = [n for n in names if n.startswith("witness-wasmtime-") and n.endswith(".cwasm")]
    assert len(compiled) == (1 if wasmtime_available() else 0)  # compiled with the setup
    assert sorted(set(names) - set(compiled)) == ["circuit.circom", "meta.json", "pk.bin",
                                                  "vk.bin"]
    second = load_or_setup(2, 1, tmp_path)
    assert second.meta == first.meta
    assert first.proving_key_loaded
    assert not second.proving_key_loaded
    state = State(second.params)
    result = build_block(state.copy(), [Deposit(1, 3, 2, 9, ALICE, 0)], 1, bytes(32), CHAINS)
    proof = prove_block(second, state, 1, result.pubdata, CHAINS)
    assert verify_block_proof(first, proof.proof, list(result.public_inputs()))
