"""Acceptance: the block lifecycle on three real anvil chains with real Groth16 proofs."""

from __future__ import annotations

import pytest
from eth_account import Account

from deploy import bindings
from deploy.errors import BindingError
from oracle_node.rollup import hashes
from oracle_node.rollup.pubdata import Deposit, FullExit, Noop, Op, Transfer, Withdraw

from .conftest import (
    CHAIN_IDS,
    GOVERNOR_KEY,
    NETWORK_ID,
    USER_KEYS,
    VALIDATOR_KEY,
    K,
    Network,
)
from .kit import Committee, commit, commit_input, confirm, prove, root

pytestmark = pytest.mark.system

ALICE = Account.from_key(USER_KEYS[0]).address
BOB = Account.from_key(USER_KEYS[1]).address


def _addr(a: str) -> bytes:
    return bytes.fromhex(a[2:])


def queue_deposits(net: Network) -> list[Op]:
    """Deposit ETH on chains 1 and 3, TST on chain 2, and request a full exit on chain 3;
    return the block-1 ops the sequencer makes of them."""
    m1, m2, m3 = net.mains
    r = m1.send(USER_KEYS[0], bindings.encode_deposit_eth(ALICE), value=10**18)
    (event,) = m1.events(r)
    assert isinstance(event, bindings.DepositQueued)
    assert event == bindings.DepositQueued(0, ALICE, 1, 10**18, event.expiry_block)
    assert event.expiry_block == int(r["blockNumber"], 16) + 50
    m2.send(GOVERNOR_KEY, _mint(BOB, 500), to=m2.token)
    m2.send(USER_KEYS[1], _approve(m2.address, 500), to=m2.token)
    r = m2.send(USER_KEYS[1], bindings.encode_deposit_erc20(2, 500, BOB))
    (event,) = m2.events(r)
    assert isinstance(event, bindings.DepositQueued)
    assert event == bindings.DepositQueued(0, BOB, 2, 500, event.expiry_block)
    m3.send(USER_KEYS[1], bindings.encode_deposit_eth(BOB), value=7)
    r = m3.send(USER_KEYS[0], bindings.encode_request_full_exit(5, 1))
    (fe,) = m3.events(r)
    assert isinstance(fe, bindings.FullExitQueued)
    assert fe == bindings.FullExitQueued(1, ALICE, 5, 1, fe.expiry_block)
    return [Deposit(1, 5, 1, 10**18, _addr(ALICE), 0), Deposit(2, 6, 2, 500, _addr(BOB), 0),
            Deposit(3, 6, 1, 7, _addr(BOB), 0), FullExit(3, 5, 1, 0, _addr(ALICE), 1)]


def _mint(to: str, amount: int) -> bytes:
    return bindings.encode_call("mint", ("address", "uint256"), (to, amount))


def _approve(spender: str, amount: int) -> bytes:
    return bindings.encode_call("approve", ("address", "uint256"), (spender, amount))


BLOCK2: list[Op] = [Transfer(5, 1, 10, 6, 0), Withdraw(1, 5, 1, 4 * 10**17, _addr(ALICE), 1),
                    Noop()]


def test_three_chains_agree_on_final_root(net: Network) -> None:
    block1 = queue_deposits(net)
    blocks = [commit_input(1, root(1), block1, K, CHAIN_IDS),
              commit_input(2, root(2), BLOCK2, K, CHAIN_IDS)]
    proven: dict[int, list[bytes]] = {1: [], 2: []}
    for main in net.mains:
        receipt = commit(main, VALIDATOR_KEY, blocks)
        committed = main.events(receipt)
        assert [type(e) for e in committed] == [bindings.BlockCommitted] * 2
        assert isinstance(committed[0], bindings.BlockCommitted)
        assert committed[0].pubdata == blocks[0].pubdata
        assert committed[0].ops_hashes == blocks[0].ops_hashes
        # the records can be rebuilt from the events alone (what nodes and the sequencer do)
        rebuilt = [main.records[0]]
        for event in committed:
            assert isinstance(event, bindings.BlockCommitted)
            rebuilt.append(bindings.record_from_event(rebuilt[-1], event, main.rollup_chain_id))
        assert rebuilt == main.records
        with pytest.raises(BindingError):
            bindings.record_from_event(rebuilt[1], committed[0], main.rollup_chain_id)
        assert main.view("total_blocks_committed") == 2
        assert main.view("next_commit_serial") == (2 if main.rollup_chain_id == 3 else 1)
        receipt = prove(main, USER_KEYS[3], net.circuit, [1, 2], [b.pubdata for b in blocks])
        for event in main.events(receipt):
            assert isinstance(event, bindings.BlockProven)
            proven[event.block_number].append(event.final_root)
        assert main.view("total_blocks_proven") == 2
    expected = bytes(32)
    for n, ops in ((1, block1), (2, BLOCK2)):
        pubdata = blocks[n - 1].pubdata
        c = hashes.commitment(n, root(n - 1), root(n), pubdata)
        expected = hashes.final_root(expected, c, [hashes.ops_hash(ops, i) for i in CHAIN_IDS])
        assert proven[n] == [expected] * 3


def test_lying_sequencer_splits_final_root(net: Network) -> None:
    block1 = queue_deposits(net)
    honest = commit_input(1, root(1), block1, K, CHAIN_IDS)
    # chain 2 is told that chain 1 has no on-chain operation in the block
    lie = bindings.CommitBlock(1, root(1), honest.pubdata,
                               (hashes.EMPTY_OPS_HASH, *honest.ops_hashes[1:]))
    roots = []
    for main in net.mains:
        commit(main, VALIDATOR_KEY, [lie if main.rollup_chain_id == 2 else honest])
        receipt = prove(main, USER_KEYS[3], net.circuit, [1], [honest.pubdata])
        (event,) = main.events(receipt)
        assert isinstance(event, bindings.BlockProven)
        roots.append(event.final_root)
    assert roots[0] == roots[2] != roots[1]


def _balance(net: Network, who: str) -> int:
    return int(net.mains[0].rpc.call("eth_getBalance", [who, "latest"]), 16)


def test_execution_waits_for_oracle_confirmation(net: Network) -> None:
    block1 = queue_deposits(net)
    blocks = [commit_input(1, root(1), block1, K, CHAIN_IDS),
              commit_input(2, root(2), BLOCK2, K, CHAIN_IDS)]
    m1 = net.mains[0]
    commit(m1, VALIDATOR_KEY, blocks)
    prove(m1, USER_KEYS[3], net.circuit, [1, 2], [b.pubdata for b in blocks])
    execute1 = bindings.encode_execute_blocks([(m1.records[1], blocks[0].pubdata)])
    execute2 = bindings.encode_execute_blocks([(m1.records[2], blocks[1].pubdata)])
    assert m1.reason(USER_KEYS[3], execute1) == "NotConfirmed"
    assert m1.view("total_blocks_executed") == 0
    assert m1.view("pending_balances", ("address", "uint16"), (ALICE, 1)) == 0
    assert m1.view("epoch") == 1
    # a signature of the wrong network, or by fewer than t members, is refused
    root1 = m1.records[1].final_root
    wrong_net = net.committee.sign_root(network_id=NETWORK_ID + 1, epoch=1, block_number=1,
                                        final_root=root1)
    confirm_wrong = bindings.encode_confirm_final_root(1, root1, wrong_net)
    assert m1.reason(USER_KEYS[3], confirm_wrong) == "InvalidSignature"
    short = Committee(net.committee.group_key, net.committee.shares[:2], 2)
    assert m1.reason(USER_KEYS[3], bindings.encode_confirm_final_root(1, root1, short.sign_root(
        network_id=NETWORK_ID, epoch=1, block_number=1, final_root=root1))) == "InvalidSignature"
    # a real 3-of-4 threshold signature confirms block 1 only
    receipt = confirm(m1, USER_KEYS[3], net.committee, NETWORK_ID, 1)
    assert m1.events(receipt) == [bindings.FinalRootConfirmed(
        1, root1, 1, Account.from_key(USER_KEYS[3]).address)]
    assert m1.reason(USER_KEYS[3], execute2) == "WrongBlockOrder"
    assert m1.events(m1.send(USER_KEYS[3], execute1)) == [bindings.BlockExecuted(1)]
    assert m1.reason(USER_KEYS[3], execute2) == "NotConfirmed"
    confirm(m1, USER_KEYS[3], net.committee, NETWORK_ID, 2)
    assert m1.events(m1.send(USER_KEYS[3], execute2)) == [bindings.BlockExecuted(2)]
    assert m1.view("pending_balances", ("address", "uint16"), (ALICE, 1)) == 4 * 10**17
    assert (m1.view("total_blocks_executed"), m1.view("first_open_request")) == (2, 1)
    before = _balance(net, ALICE)
    receipt = m1.send(USER_KEYS[0], bindings.encode_withdraw_pending_balance(1, 4 * 10**17))
    assert m1.events(receipt) == [bindings.PendingBalanceWithdrawn(ALICE, 1, 4 * 10**17)]
    fee = int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
    assert _balance(net, ALICE) == before + 4 * 10**17 - fee
    assert m1.view("pending_balances", ("address", "uint16"), (ALICE, 1)) == 0
