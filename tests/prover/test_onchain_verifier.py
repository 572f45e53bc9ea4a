"""System test: the exported Vyper verifier accepts a real block proof on a real anvil chain
with the public inputs of docs/protocol.md §3, and rejects a tampered input."""

from __future__ import annotations

import time

import pytest
from eth_abi.abi import decode, encode
from eth_utils.crypto import keccak

from deploy.compile import compile_source
from oracle_node.prover import load_or_setup, prove_block, split_proof, vyper_verifier_source
from oracle_node.rollup import Deposit, RollupParams, State, Transfer, build_block
from testnet.anvil import anvil_chain

pytestmark = pytest.mark.system
CHAINS = (1, 2)
DEV = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil's first funded dev account


def _wait_receipt(chain: object, tx: str) -> dict[str, str]:
    for _ in range(100):
        receipt = chain.rpc("eth_getTransactionReceipt", [tx])  # type: ignore[attr-defined]
        if receipt:
            return receipt  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError("no receipt")


def test_vyper_verifier_on_anvil() -> None:
    keys = load_or_setup(8, 2)
    state = State(RollupParams(depth=8, token_slots=2, capacity=2))
    build_block(state, [Deposit(1, 1, 1, 100, b"\x01" * 20, 0),
                        Deposit(2, 2, 1, 100, b"\x02" * 20, 0)], 1, bytes(32), CHAINS)
    before = state.copy()
    result = build_block(state, [Transfer(1, 1, 60, 2, 0)], 2, bytes(32), CHAINS)
    proof = prove_block(keys, before, 2, result.pubdata, CHAINS)
    compiled = compile_source("BlockVerifier", vyper_verifier_source(keys))
    a, b, c = split_proof(proof.proof)
    n = len(proof.public_inputs)
    selector = keccak(f"verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[{n}])".encode())
    types = ["uint256[2]", "uint256[2][2]", "uint256[2]", f"uint256[{n}]"]
    with anvil_chain(chain_id=31337) as chain:
        tx = chain.rpc("eth_sendTransaction", [{"from": DEV, "data": "0x" + compiled.bytecode.hex(),
                                                "gas": hex(5_000_000)}])
        address = _wait_receipt(chain, str(tx))["contractAddress"]

        def call(inputs: list[int]) -> bool:
            data = selector[:4] + encode(types, [a, b, c, inputs])
            out = chain.rpc("eth_call", [{"to": address, "data": "0x" + data.hex()}, "latest"])
            return bool(decode(["bool"], bytes.fromhex(str(out)[2:]))[0])

        assert call(list(proof.public_inputs))
        tampered = list(proof.public_inputs)
        tampered[4] ^= 1
        assert not call(tampered)
