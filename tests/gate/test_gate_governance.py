"""Group-key handover, the emergency replacement, signer-set proposals and pause via a timelock."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from web3 import Web3

from consensus import bls
from deploy.compile import compile_file
from deploy.gate_tools import (
    HANDOVER_GAS_LIMIT,
    SignerSetMember,
    TransactionFailedError,
    deploy_key_blob,
    deploy_signer_sets,
    handover_message,
    propose_signer_set_args,
    propose_signer_set_calldata,
)
from testnet.anvil import AnvilChain, anvil_chain

from .support import (
    EMERGENCY_DELAY,
    NETWORK_ID,
    Committee,
    Gate,
    deploy_gate,
    deploy_signer_sets_for,
    revert_name,
)

pytestmark = pytest.mark.system
ROOT = b"\x42" * 32


@pytest.fixture(scope="module")
def chain() -> Iterator[AnvilChain]:
    """One anvil chain for the module; every test deploys its own gate."""
    with anvil_chain(chain_id=31010) as running:
        yield running


@pytest.fixture
def gate(chain: AnvilChain, committee: Committee) -> Gate:
    """A fresh gate with block 1 proved."""
    deployed = deploy_gate(chain, committee.group_key)
    deployed.transact(deployed.governor, "recordProvenRoot", 1, ROOT)
    return deployed


def _handover_signature(gate: Gate, old: Committee, new: Committee, epoch: int) -> bytes:
    message = handover_message(network_id=NETWORK_ID, old_epoch=epoch,
                               new_key=new.group_key.to_bytes())
    assert gate.contract.functions.handoverMessage(new.group_key.to_eip2537()).call() == message
    return old.sign(message)


def test_handover_bumps_the_epoch_and_retires_the_old_key(gate: Gate, committee: Committee,
                                                          next_committee: Committee) -> None:
    blob = deploy_key_blob(gate.submitter, next_committee.group_key.to_bytes())
    signature = _handover_signature(gate, committee, next_committee, 1)
    receipt = gate.transact(gate.submitter, "handoverGroupKey", blob, signature,
                            gas=HANDOVER_GAS_LIMIT)
    (event,) = gate.events("GroupKeyReplaced", receipt)
    assert event.args.epoch == 2
    assert event.args.group_key == next_committee.group_key.to_bytes()
    assert gate.contract.functions.epoch().call() == 2
    assert gate.contract.functions.groupKey().call() == next_committee.group_key.to_eip2537()
    # The same handover again, and the old group signing for the new or the old epoch: refused.
    assert revert_name(gate, gate.submitter, "handoverGroupKey", blob, signature)[0] == \
        "HandoverReplayed"
    for old_sig in (committee.sign_root(epoch=1, block_number=1, final_root=ROOT),
                    committee.sign_root(epoch=2, block_number=1, final_root=ROOT),
                    next_committee.sign_root(epoch=1, block_number=1, final_root=ROOT)):
        assert revert_name(gate, gate.submitter, "confirmFinalRoot", 1, ROOT, old_sig)[0] == \
            "InvalidSignature"
    confirmed = gate.confirm(1, ROOT, next_committee.sign_root(epoch=2, block_number=1,
                                                               final_root=ROOT))
    assert gate.events("FinalRootConfirmed", confirmed)[0].args.epoch == 2


def test_handover_needs_the_current_group(gate: Gate, committee: Committee,
                                          next_committee: Committee) -> None:
    blob = deploy_key_blob(gate.submitter, next_committee.group_key.to_bytes())
    forged = _handover_signature(gate, next_committee, next_committee, 1)
    assert revert_name(gate, gate.submitter, "handoverGroupKey", blob, forged)[0] == \
        "InvalidSignature"
    # Handing over to the current key (or any key used before) is a replay.
    current = deploy_key_blob(gate.submitter, committee.group_key.to_bytes())
    signature = _handover_signature(gate, committee, committee, 1)
    assert revert_name(gate, gate.submitter, "handoverGroupKey", current, signature)[0] == \
        "HandoverReplayed"
    assert gate.contract.functions.epoch().call() == 1


def test_malformed_new_key_is_refused(gate: Gate, committee: Committee) -> None:
    bogus = bytes(16) + os.urandom(48)
    junk_blob = gate.submitter.deploy(bytes.fromhex("610100" "80" "600a" "5f" "39" "5f" "f3")
                                      + bogus * 4)
    short_blob = gate.submitter.deploy(bytes.fromhex("6001" "80" "600a" "5f" "39" "5f" "f3" "00")
                                       + b"\x00")
    signature = committee.sign(b"\x00" * 32)
    for blob in (junk_blob, short_blob):
        assert revert_name(gate, gate.submitter, "handoverGroupKey", blob, signature)[0] == \
            "MalformedGroupKey"


def test_emergency_replacement_waits_for_the_delay(chain: AnvilChain, gate: Gate,
                                                   next_committee: Committee) -> None:
    blob = deploy_key_blob(gate.submitter, next_committee.group_key.to_bytes())
    assert revert_name(gate, gate.submitter, "scheduleGroupKeyReplacement", blob)[0] == \
        "NotGovernor"
    assert revert_name(gate, gate.governor, "executeGroupKeyReplacement")[0] == \
        "NoReplacementScheduled"
    receipt = gate.transact(gate.governor, "scheduleGroupKeyReplacement", blob)
    (scheduled,) = gate.events("GroupKeyReplacementScheduled", receipt)
    assert scheduled.args.epoch == 2
    assert scheduled.args.group_key == next_committee.group_key.to_bytes()
    assert revert_name(gate, gate.governor, "executeGroupKeyReplacement")[0] == \
        "ReplacementDelayNotPassed"
    chain.rpc("evm_increaseTime", [EMERGENCY_DELAY + 1])
    chain.rpc("evm_mine")
    assert revert_name(gate, gate.submitter, "executeGroupKeyReplacement")[0] == "NotGovernor"
    receipt = gate.transact(gate.governor, "executeGroupKeyReplacement", gas=HANDOVER_GAS_LIMIT)
    assert gate.events("GroupKeyReplaced", receipt)[0].args.epoch == 2
    assert gate.contract.functions.groupKeyCompressed().call() == \
        next_committee.group_key.to_bytes()
    assert gate.contract.functions.pendingReplacement().call()[0] == \
        "0x0000000000000000000000000000000000000000"


def _members(committee: Committee, n: int) -> list[SignerSetMember]:
    members = []
    for share in committee.shares[:n]:
        public_key = bls.public_key(share.secret)
        members.append(SignerSetMember(
            peer_id=b"\x00\x24\x08\x01\x12\x20" + bytes([share.index]) * 32,
            public_key=public_key.to_bytes(), pop=bls.pop_prove(share.secret).to_bytes()))
    return members


def test_signer_set_proposal_is_one_event(chain: AnvilChain, gate: Gate,
                                          next_committee: Committee) -> None:
    registry = deploy_signer_sets_for(gate)
    members = _members(next_committee, 5)
    head = int(str(chain.rpc("eth_blockNumber")), 16)
    args = propose_signer_set_args(members, 3, head + 100)
    assert revert_name(registry, gate.submitter, "proposeSignerSet", *args)[0] == "NotGovernor"
    receipt = registry.transact(gate.governor, "proposeSignerSet", *args)
    (event,) = registry.events("SignerSetProposed", receipt)
    assert event.args.epoch == 1
    assert event.args.proposal_id == 1
    assert event.args.threshold == 3
    assert event.args.activation_block == head + 100
    assert list(event.args.peer_ids) == [m.peer_id for m in members]
    assert list(event.args.member_keys) == [m.public_key for m in members]
    for key, pop in zip(event.args.member_keys, event.args.pops, strict=True):
        assert bls.pop_verify(bls.PublicKey.from_bytes(key), bls.Signature.from_bytes(pop))
    assert registry.contract.functions.pendingSignerSet().call() == [1, head + 100, 3, 5]
    assert gate.contract.functions.epoch().call() == 1  # a reshare keeps the key and epoch
    bad = propose_signer_set_args(members, 3, head + 100)
    bad[3] = 6
    assert revert_name(registry, gate.governor, "proposeSignerSet", *bad)[0] == "BadThreshold"
    bad = propose_signer_set_args(members, 3, 1)
    assert revert_name(registry, gate.governor, "proposeSignerSet", *bad)[0] == \
        "ActivationInPast"
    bad = propose_signer_set_args(members, 3, head + 100)
    bad[1] = bad[1][:4]
    assert revert_name(registry, gate.governor, "proposeSignerSet", *bad)[0] == \
        "MalformedSignerSet"


def test_proposals_follow_the_gate_governor(chain: AnvilChain, gate: Gate,
                                            next_committee: Committee) -> None:
    registry = deploy_signer_sets_for(gate)
    head = int(str(chain.rpc("eth_blockNumber")), 16)
    args = propose_signer_set_args(_members(next_committee, 4), 3, head + 100)
    gate.transact(gate.governor, "transferGovernance", gate.submitter.address)
    assert revert_name(registry, gate.governor, "proposeSignerSet", *args)[0] == "NotGovernor"
    receipt = registry.transact(gate.submitter, "proposeSignerSet", *args)
    assert registry.events("SignerSetProposed", receipt)[0].args.proposal_id == 1
    with pytest.raises(TransactionFailedError):
        deploy_signer_sets(gate.governor, gate.governor.address)  # not a contract


def test_timelock_governor(chain: AnvilChain, committee: Committee,
                           next_committee: Committee) -> None:
    compiled = compile_file("timelock.vy")
    probe = deploy_gate(chain, committee.group_key)  # for the admin account and web3
    admin = probe.governor
    from eth_abi.abi import encode

    timelock_address = admin.deploy(compiled.bytecode + encode(["address", "uint256"],
                                                                [admin.address, 600]))
    timelock = probe.w3.eth.contract(address=Web3.to_checksum_address(timelock_address),
                                     abi=compiled.abi)
    gate = deploy_gate(chain, committee.group_key, governor_address=timelock_address)
    assert revert_name(gate, admin, "pause")[0] == "NotGovernor"

    def via_timelock(target: str, data: bytes) -> object:
        salt = os.urandom(32)
        call = [target, 0, data, salt]
        admin.send(timelock_address, bytes.fromhex(timelock.encode_abi("schedule", call)[2:]))
        execute = bytes.fromhex(timelock.encode_abi("execute", call)[2:])
        early = admin.send(timelock_address, execute, gas=2_000_000, check=False)
        assert early["status"] == 0
        chain.rpc("evm_increaseTime", [601])
        chain.rpc("evm_mine")
        return admin.send(timelock_address, execute, gas=3_000_000)

    receipt = via_timelock(gate.address, gate.call_data("pause"))
    assert len(gate.events("ConfirmationsPaused", receipt)) == 1
    assert gate.contract.functions.paused().call()
    head = int(str(chain.rpc("eth_blockNumber")), 16)
    data = propose_signer_set_calldata(_members(next_committee, 4), 3, head + 50)
    registry = deploy_signer_sets_for(gate)
    assert data == registry.call_data("proposeSignerSet",
                                      *propose_signer_set_args(_members(next_committee, 4), 3,
                                                               head + 50))
    receipt = via_timelock(registry.address, data)
    (event,) = registry.events("SignerSetProposed", receipt)
    assert event.args.threshold == 3


def test_cancel_replacement_and_transfer_governance(gate: Gate,
                                                    next_committee: Committee) -> None:
    blob = deploy_key_blob(gate.submitter, next_committee.group_key.to_bytes())
    assert revert_name(gate, gate.governor, "cancelGroupKeyReplacement")[0] == \
        "NoReplacementScheduled"
    gate.transact(gate.governor, "scheduleGroupKeyReplacement", blob)
    receipt = gate.transact(gate.governor, "cancelGroupKeyReplacement")
    assert gate.events("GroupKeyReplacementCancelled", receipt)[0].args.epoch == 2
    assert revert_name(gate, gate.governor, "executeGroupKeyReplacement")[0] == \
        "NoReplacementScheduled"
    assert revert_name(gate, gate.submitter, "transferGovernance", gate.submitter.address)[0] \
        == "NotGovernor"
    receipt = gate.transact(gate.governor, "transferGovernance", gate.submitter.address)
    (changed,) = gate.events("GovernorChanged", receipt)
    assert changed.args.governor == gate.submitter.address
    assert gate.contract.functions.governance().call() == gate.submitter.address
    assert revert_name(gate, gate.governor, "pause")[0] == "NotGovernor"
    gate.transact(gate.submitter, "pause")
    assert gate.contract.functions.paused().call()
