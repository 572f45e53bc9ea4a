"""Acceptance with the real rollup circuit (depth 8, capacity 2; TESTNET ONLY setup cached
under .cache/prover): real blocks built by the rollup core, proved by oracle_node.prover,
committed and proved on three anvil chains that must agree on the final_root, confirmed by a
threshold signature and executed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account

from deploy import bindings, deployer
from deploy.rpc import BlockingRpc
from oracle_node.prover import load_or_setup, prove_block, vyper_verifier_source
from oracle_node.rollup import Deposit, RollupParams, State, Transfer, Withdraw, build_block
from oracle_node.rollup.hashes import root_to_bytes
from oracle_node.rollup.pubdata import Op

from .conftest import CHAIN_IDS, NETWORK_ID, USER_KEYS, VALIDATOR_KEY, Network, network_spec
from .kit import Main, commit, confirm

pytestmark = [pytest.mark.system, pytest.mark.slow]

DEPTH, CAPACITY = 8, 2


def test_real_rollup_blocks_on_three_chains(net: Network, tmp_path: Path) -> None:
    keys = load_or_setup(DEPTH, CAPACITY)
    state = State(RollupParams(depth=DEPTH, token_slots=2, capacity=CAPACITY))
    genesis = root_to_bytes(state.root)
    spec = replace(network_spec([m.rpc.url for m in net.mains], vyper_verifier_source(keys)),
                   block_capacity=CAPACITY, genesis_state_root=genesis,
                   account_tree_depth=DEPTH)
    deployed = deployer.deploy_network(spec, tmp_path / "deployments.json")
    mains = [Main(m.name, BlockingRpc(m.rpc.url), deployed[m.name].main.address, m.rollup_chain_id,
                  deployed[m.name].test_token.address, [bindings.StoredBlock.genesis(genesis)])
             for m in net.mains]
    alice = Account.from_key(USER_KEYS[0]).address
    bob = Account.from_key(USER_KEYS[1]).address
    mains[0].send(USER_KEYS[0], bindings.encode_deposit_eth(alice), value=1000)
    mains[2].send(USER_KEYS[1], bindings.encode_deposit_eth(bob), value=500)
    a, b = bytes.fromhex(alice[2:]), bytes.fromhex(bob[2:])
    blocks: list[list[Op]] = [[Deposit(1, 1, 1, 1000, a, 0), Deposit(3, 2, 1, 500, b, 0)],
                              [Transfer(1, 1, 300, 2, 0), Withdraw(2, 2, 1, 100, b, 0)]]
    prev_sync = bytes(32)
    built = []
    for number, ops in enumerate(blocks, start=1):
        before = state.copy()
        result = build_block(state, ops, number, prev_sync, CHAIN_IDS)
        built.append(result)
        prev_sync = result.sync_hash
        proof = prove_block(keys, before, number, result.pubdata, CHAIN_IDS)
        block = bindings.CommitBlock(number, result.new_state_root_bytes, result.pubdata,
                                     result.ops_hashes)
        for m in mains:
            commit(m, VALIDATOR_KEY, [block])
            receipt = m.send(USER_KEYS[3], bindings.encode_prove_blocks(
                [(m.records[number], result.pubdata, proof.proof)]))
            assert m.events(receipt) == [bindings.BlockProven(
                number, result.final_root, result.new_state_root_bytes)]
        assert [m.view("total_blocks_proven") for m in mains] == [number] * 3
    # one threshold signature per chain over block 2 confirms both blocks; chain 2 pays Bob
    pubdatas = [r.pubdata for r in built]
    for m in mains:
        confirm(m, USER_KEYS[3], net.committee, NETWORK_ID, 2)
        m.send(USER_KEYS[3], bindings.encode_execute_blocks(
            [(m.records[n], pubdatas[n - 1]) for n in (1, 2)]))
        assert m.view("total_blocks_executed") == 2
    assert mains[1].view("pending_balances", ("address", "uint16"), (bob, 1)) == 100
    assert mains[0].view("pending_balances", ("address", "uint16"), (bob, 1)) == 0
