"""Execution path (pending balances, full exits, withdrawals, queue retirement) after a real
threshold confirmation, and the gate's bookkeeping across reverts."""

from __future__ import annotations

import pytest
from eth_account import Account

from deploy import bindings
from oracle_node.rollup.pubdata import Deposit, FullExit, Op, Withdraw

from .conftest import CHAIN_IDS, GOVERNOR_KEY, NETWORK_ID, USER_KEYS, VALIDATOR_KEY, K, Network
from .kit import commit, commit_input, confirm, prove, root

pytestmark = pytest.mark.system

ALICE = Account.from_key(USER_KEYS[0]).address
ALICE_B = bytes.fromhex(ALICE[2:])


def _balance(net: Network, who: str) -> int:
    return int(net.mains[0].rpc.call("eth_getBalance", [who, "latest"]), 16)


def test_execute_credits_and_pays_out(net: Network) -> None:
    m = net.mains[0]
    m.send(USER_KEYS[1], bindings.encode_deposit_eth(ALICE), value=10**18)
    m.send(USER_KEYS[0], bindings.encode_request_full_exit(9, 1))
    mint = bindings.encode_call("mint", ("address", "uint256"), (m.address, 50))
    m.send(GOVERNOR_KEY, mint, to=m.token)  # the contract's TST reserve (as if deposited earlier)
    ops: list[Op] = [Deposit(1, 9, 1, 10**18, ALICE_B, 0),
                     FullExit(1, 9, 1, 3 * 10**17, ALICE_B, 1),
                     Withdraw(1, 9, 1, 10**17, ALICE_B, 0), Withdraw(1, 9, 2, 40, ALICE_B, 1)]
    other: list[Op] = [Withdraw(2, 9, 1, 5, ALICE_B, 2)]  # paid out by chain 2, not here
    blocks = [commit_input(1, root(1), ops, K, CHAIN_IDS),
              commit_input(2, root(2), other, K, CHAIN_IDS)]
    commit(m, VALIDATOR_KEY, blocks)
    prove(m, USER_KEYS[3], net.circuit, [1, 2], [b.pubdata for b in blocks])
    confirm(m, USER_KEYS[2], net.committee, NETWORK_ID, 2)  # confirms block 1 too
    assert m.view("lastConfirmedBlock") == 2
    execute = bindings.encode_execute_blocks([(m.records[i], blocks[i - 1].pubdata)
                                              for i in (1, 2)])
    receipt = m.send(USER_KEYS[3], execute)
    assert m.events(receipt) == [bindings.BlockExecuted(1), bindings.BlockExecuted(2)]
    assert m.view("pending_balances", ("address", "uint16"), (ALICE, 1)) == 4 * 10**17
    assert m.view("pending_balances", ("address", "uint16"), (ALICE, 2)) == 40
    assert (m.view("first_open_request"), m.view("total_blocks_executed")) == (2, 2)
    assert m.reason(VALIDATOR_KEY, bindings.encode_revert_blocks([m.records[2]])
                    ) == "BlockAlreadyExecuted"
    assert m.reason(USER_KEYS[3], execute) == "WrongBlockOrder"
    before = _balance(net, ALICE)
    receipt = m.send(USER_KEYS[0], bindings.encode_withdraw_pending_balance(1, 4 * 10**17))
    fee = int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
    assert _balance(net, ALICE) == before + 4 * 10**17 - fee
    m.send(USER_KEYS[0], bindings.encode_withdraw_pending_balance(2, 40))
    tst = m.rpc.eth_call(m.token, bindings.encode_call("balanceOf", ("address",), (ALICE,)))
    assert int.from_bytes(tst, "big") == 40
    assert m.reason(USER_KEYS[0], bindings.encode_withdraw_pending_balance(2, 1)
                    ) == "InsufficientPendingBalance"


def test_revert_forgets_proven_and_confirmed_roots(net: Network) -> None:
    m = net.mains[0]
    blocks = [commit_input(n, root(n), [], K, CHAIN_IDS) for n in (1, 2)]
    commit(m, VALIDATOR_KEY, blocks)
    prove(m, USER_KEYS[3], net.circuit, [1, 2], [b.pubdata for b in blocks])
    confirm(m, USER_KEYS[3], net.committee, NETWORK_ID, 1)
    assert m.view("provenRoot", ("uint256",), (2,), out="bytes32") == m.records[2].final_root
    m.send(VALIDATOR_KEY, bindings.encode_revert_blocks([m.records[2], m.records[1]]))
    assert m.view("lastConfirmedBlock") == 0
    assert m.view("provenRoot", ("uint256",), (1,), out="bytes32") == bytes(32)
    old = m.records[1]
    m.records = m.records[:1]
    # the old confirmation does not carry over to a different block 1
    other = [commit_input(1, root(7), [], K, CHAIN_IDS)]
    commit(m, VALIDATOR_KEY, other)
    prove(m, USER_KEYS[3], net.circuit, [1], [other[0].pubdata])
    assert m.view("isConfirmed", ("uint256", "bytes32"), (1, old.final_root), out="bool") is False
    execute = bindings.encode_execute_blocks([(m.records[1], other[0].pubdata)])
    assert m.reason(USER_KEYS[3], execute) == "NotConfirmed"
    confirm(m, USER_KEYS[3], net.committee, NETWORK_ID, 1)
    assert m.events(m.send(USER_KEYS[3], execute)) == [bindings.BlockExecuted(1)]
