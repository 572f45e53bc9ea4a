"""Execution path (pending balances, withdrawals, queue retirement) on a TEST-ONLY variant of
the main contract whose oracle hook answers True; the real contract waits for the gate."""

from __future__ import annotations

import pytest
from eth_account import Account

from deploy import bindings
from oracle_node.rollup.pubdata import Deposit, FullExit, Op, Withdraw

from .conftest import CHAIN_IDS, GOVERNOR_KEY, USER_KEYS, VALIDATOR_KEY, K, Network
from .kit import commit, commit_input, deploy_open_gate_main, prove, root

pytestmark = pytest.mark.system

ALICE = Account.from_key(USER_KEYS[0]).address
ALICE_B = bytes.fromhex(ALICE[2:])


def _balance(net: Network, who: str) -> int:
    return int(net.mains[0].rpc.call("eth_getBalance", [who, "latest"]), 16)


def test_execute_credits_and_pays_out(net: Network) -> None:
    m = deploy_open_gate_main(net.mains[0], GOVERNOR_KEY, net.spec,
                              Account.from_key(VALIDATOR_KEY).address)
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
