"""Acceptance: every named revert of the main contract, on a real anvil chain."""

from __future__ import annotations

import dataclasses

import pytest
from eth_account import Account

from deploy import bindings
from oracle_node.rollup import hashes
from oracle_node.rollup.pubdata import Deposit, FullExit, Noop, Op, Transfer, Withdraw

from .conftest import CHAIN_IDS, EXPIRY_PERIOD, GOVERNOR_KEY, USER_KEYS, VALIDATOR_KEY, K, Network
from .kit import Main, commit, commit_input, prove, public_inputs, root

pytestmark = pytest.mark.system

ALICE = Account.from_key(USER_KEYS[0]).address
ALICE_B = bytes.fromhex(ALICE[2:])


def _deposit(m: Main, amount: int = 1000) -> Deposit:
    m.send(USER_KEYS[0], bindings.encode_deposit_eth(ALICE), value=amount)
    return Deposit(m.rollup_chain_id, 9, 1, amount, ALICE_B, 0)


def _commit_data(m: Main, blocks: list[bindings.CommitBlock]) -> bytes:
    return bindings.encode_commit_blocks(m.records[-1], blocks)


def test_commit_reverts(net: Network) -> None:
    m = net.mains[0]
    dep = _deposit(m)
    good = commit_input(1, root(1), [dep], K, CHAIN_IDS)
    assert m.reason(USER_KEYS[0], _commit_data(m, [good])) == "NotValidator"
    assert m.reason(VALIDATOR_KEY, _commit_data(m, [])) == "EmptyBatch"
    assert m.reason(VALIDATOR_KEY, _commit_data(m, [dataclasses.replace(good, block_number=2)])
                    ) == "WrongBlockOrder"
    lying_last = dataclasses.replace(m.records[0], sync_hash=b"\x01" * 32)
    assert m.reason(VALIDATOR_KEY, bindings.encode_commit_blocks(lying_last, [good])
                    ) == "WrongLastBlock"
    short = dataclasses.replace(good, pubdata=good.pubdata[:-62])
    assert m.reason(VALIDATOR_KEY, _commit_data(m, [short])) == "WrongPubdataLength"
    huge_root = dataclasses.replace(good, new_state_root=hashes.BN254_R.to_bytes(32, "big"))
    assert m.reason(VALIDATOR_KEY, _commit_data(m, [huge_root])) == "StateRootNotInField"
    assert m.reason(VALIDATOR_KEY, _commit_data(m, [dataclasses.replace(
        good, ops_hashes=good.ops_hashes[:2])])) == "WrongOpsHashesLength"
    bad_type = dataclasses.replace(good, pubdata=b"\x05" + good.pubdata[1:])
    assert m.reason(VALIDATOR_KEY, _commit_data(m, [bad_type])) == "UnknownOpType"
    own_lie = dataclasses.replace(good, ops_hashes=(hashes.EMPTY_OPS_HASH, *good.ops_hashes[1:]))
    assert m.reason(VALIDATOR_KEY, _commit_data(m, [own_lie])) == "OwnOpsHashMismatch"
    m.send(USER_KEYS[0], bindings.encode_request_full_exit(9, 1))  # serial 1
    exit_ = FullExit(1, 9, 1, 0, ALICE_B, 1)
    mismatches: list[list[Op]] = [
        [dataclasses.replace(dep, amount=999)], [dataclasses.replace(dep, token=2)],
        [dataclasses.replace(dep, owner=b"\x01" * 20)], [dataclasses.replace(dep, serial_id=1)],
        [dataclasses.replace(exit_, serial_id=0)],  # wrong type for serial 0
        [exit_],  # serial 0 skipped
        [dep, dataclasses.replace(exit_, account_id=10)],
        [dep, dataclasses.replace(exit_, token=2)],
        [dep, exit_, dataclasses.replace(dep, serial_id=2)],  # serial 2 was never queued
    ]
    for ops in mismatches:
        block = commit_input(1, root(1), ops, K, CHAIN_IDS)
        assert m.reason(VALIDATOR_KEY, _commit_data(m, [block])) == "PriorityOpMismatch", ops
    commit(m, VALIDATOR_KEY, [good])
    again = bindings.encode_commit_blocks(m.records[0], [good])
    assert m.reason(VALIDATOR_KEY, again) == "ReplayedCommit"


def test_prove_reverts(net: Network) -> None:
    m = net.mains[0]
    blocks = [commit_input(1, root(1), [Transfer(1, 1, 5, 2, 0)], K, CHAIN_IDS),
              commit_input(2, root(2), [Noop()], K, CHAIN_IDS)]
    commit(m, VALIDATOR_KEY, blocks)
    s1, s2 = m.records[1], m.records[2]
    p1, p2 = blocks[0].pubdata, blocks[1].pubdata
    proof1 = net.circuit.prove(public_inputs(s1, p1))

    def reason(items: list[tuple[bindings.StoredBlock, bytes, bytes]]) -> str | None:
        return m.reason(USER_KEYS[2], bindings.encode_prove_blocks(items))

    assert reason([(s2, p2, net.circuit.prove(public_inputs(s2, p2)))]) == "WrongBlockOrder"
    forged = dataclasses.replace(s1, new_state_root=root(9))
    assert reason([(forged, p1, net.circuit.prove(public_inputs(forged, p1)))]
                  ) == "StoredBlockMismatch"
    assert reason([(s1, p2, proof1)]) == "PubdataMismatch"
    # a real proof of other public inputs, a malformed proof and garbage all fail the same way
    assert reason([(s1, p1, net.circuit.prove(public_inputs(s2, p2)))]) == "WrongProof"
    assert reason([(s1, p1, proof1[:-32] + bytes(32))]) == "WrongProof"
    assert reason([(s1, p1, b"\xff" * 256)]) == "WrongProof"
    prove(m, USER_KEYS[2], net.circuit, [1], [p1])
    assert reason([(s1, p1, proof1)]) == "AlreadyProven"
    m.send(VALIDATOR_KEY, bindings.encode_revert_blocks([s2]))
    assert reason([(s2, p2, net.circuit.prove(public_inputs(s2, p2)))]) == "BlockNotCommitted"


def test_execute_withdraw_and_role_reverts(net: Network) -> None:
    m = net.mains[0]
    block = commit_input(1, root(1), [Withdraw(1, 9, 1, 5, ALICE_B, 0)], K, CHAIN_IDS)
    commit(m, VALIDATOR_KEY, [block])
    execute = bindings.encode_execute_blocks([(m.records[1], block.pubdata)])
    assert m.reason(USER_KEYS[2], execute) == "BlockNotProven"
    prove(m, USER_KEYS[2], net.circuit, [1], [block.pubdata])
    assert m.reason(USER_KEYS[2], execute) == "NotConfirmed"
    assert m.reason(USER_KEYS[2], bindings.encode_execute_blocks(
        [(m.records[1], bytes(62 * K))])) == "PubdataMismatch"
    assert m.reason(USER_KEYS[0], bindings.encode_withdraw_pending_balance(1, 1)
                    ) == "InsufficientPendingBalance"
    assert m.reason(USER_KEYS[0], bindings.encode_withdraw_pending_balance(1, 0)) == "ZeroAmount"
    assert m.reason(USER_KEYS[0], bindings.encode_call(
        "setValidator", ("address", "bool"), (ALICE, True))) == "NotGovernor"
    assert m.reason(USER_KEYS[0], bindings.encode_revert_blocks([m.records[1]])) == "NotValidator"
    assert m.reason(GOVERNOR_KEY, bindings.encode_call(
        "registerToken", ("uint16", "address"), (2, m.token))) == "TokenAlreadyRegistered"
    assert m.reason(VALIDATOR_KEY, bindings.encode_revert_blocks([m.records[0]])
                    ) == "WrongBlockOrder"


def test_one_governor_for_roles_and_gate(net: Network) -> None:
    m = net.mains[0]
    governor = Account.from_key(GOVERNOR_KEY).address
    assert m.view("governor", out="address") == m.view("governance", out="address") \
        == governor.lower()
    receipt = m.send(GOVERNOR_KEY, bindings.encode_call("transferGovernance", ("address",),
                                                        (ALICE,)))
    assert m.events(receipt) == [bindings.GovernorChanged(governor, ALICE)]
    set_validator = bindings.encode_call("setValidator", ("address", "bool"), (ALICE, True))
    assert m.reason(GOVERNOR_KEY, set_validator) == "NotGovernor"
    assert m.events(m.send(USER_KEYS[0], set_validator)) == [bindings.ValidatorSet(ALICE, True)]
    assert m.events(m.send(USER_KEYS[0], bindings.encode_call("pause"))) == [
        bindings.ConfirmationsPaused()]
    assert m.view("paused", out="bool") is True


def test_deposit_reverts(net: Network) -> None:
    m = net.mains[0]
    assert m.reason(USER_KEYS[0], bindings.encode_deposit_eth(ALICE)) == "ZeroAmount"
    assert m.reason(USER_KEYS[0], bindings.encode_deposit_eth("0x" + "00" * 20), 1) == "ZeroOwner"
    assert m.reason(USER_KEYS[0], bindings.encode_deposit_erc20(3, 5, ALICE)) == "UnknownToken"
    assert m.reason(USER_KEYS[0], bindings.encode_deposit_erc20(1, 5, ALICE)) == "UnknownToken"
    assert m.reason(USER_KEYS[0], bindings.encode_request_full_exit(0, 1)) == "ReservedAccount"
    assert m.reason(USER_KEYS[0], bindings.encode_request_full_exit(3, 9)) == "UnknownToken"
    assert m.reason(USER_KEYS[0], bindings.encode_activate_exodus_mode()) == "NoOpenRequest"
    # account ids must fit the rollup's account tree (depth 16): no block could contain more
    assert m.reason(USER_KEYS[0], bindings.encode_request_full_exit(2**16, 1)
                    ) == "AccountIdTooLarge"
    assert m.reason(USER_KEYS[0], bindings.encode_request_full_exit(2**32 - 1, 2)
                    ) == "AccountIdTooLarge"
    (event,) = m.events(m.send(USER_KEYS[0], bindings.encode_request_full_exit(2**16 - 1, 2)))
    assert isinstance(event, bindings.FullExitQueued)
    assert (event.account_id, event.token) == (2**16 - 1, 2)


def test_revert_blocks_restores_queue(net: Network) -> None:
    m = net.mains[0]
    dep = _deposit(m)
    blocks = [commit_input(1, root(1), [dep], K, CHAIN_IDS),
              commit_input(2, root(2), [], K, CHAIN_IDS)]
    commit(m, VALIDATOR_KEY, blocks)
    assert m.view("next_commit_serial") == 1
    receipt = m.send(VALIDATOR_KEY, bindings.encode_revert_blocks([m.records[2], m.records[1]]))
    assert m.events(receipt) == [bindings.BlocksReverted(1, 2)]
    assert (m.view("total_blocks_committed"), m.view("next_commit_serial")) == (0, 0)
    m.records = m.records[:1]
    commit(m, VALIDATOR_KEY, blocks[:1])  # the same deposit can be committed again
    assert m.view("total_blocks_committed") == 1


def test_exodus_mode(net: Network) -> None:
    m = net.mains[0]
    dep = _deposit(m)
    assert m.reason(USER_KEYS[3], bindings.encode_activate_exodus_mode()) == "RequestNotExpired"
    m.rpc.call("anvil_mine", [hex(EXPIRY_PERIOD)])
    receipt = m.send(USER_KEYS[3], bindings.encode_activate_exodus_mode())
    (event,) = m.events(receipt)
    assert isinstance(event, bindings.ExodusMode)
    assert event.serial_id == 0
    assert m.view("exodus_mode", out="bool") is True
    block = commit_input(1, root(1), [dep], K, CHAIN_IDS)
    assert m.reason(VALIDATOR_KEY, _commit_data(m, [block])) == "ExodusActive"
    assert m.reason(USER_KEYS[0], bindings.encode_deposit_eth(ALICE), 5) == "ExodusActive"
    assert m.reason(USER_KEYS[0], bindings.encode_request_full_exit(9, 1)) == "ExodusActive"
    assert m.reason(USER_KEYS[3], bindings.encode_activate_exodus_mode()) == "ExodusActive"
