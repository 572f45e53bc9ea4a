"""confirmFinalRoot on real anvil chains with signatures from the consensus library."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from consensus import bls
from consensus.message import signing_message
from deploy.gate_tools import CONFIRM_GAS_LIMIT
from testnet.anvil import anvil_chain

from .support import (
    FIELD_P,
    NETWORK_ID,
    Committee,
    Gate,
    deploy_gate,
    fp,
    g1_off_subgroup,
    revert_name,
)

pytestmark = pytest.mark.system

ROOTS = {n: bytes([n]) * 32 for n in range(1, 12)}


@pytest.fixture(scope="module")
def gates(committee: Committee) -> Iterator[list[Gate]]:
    """The gate harness on three chains, blocks 1..10 proved with the same roots everywhere."""
    with anvil_chain(chain_id=31001) as a, anvil_chain(chain_id=31002) as b, \
            anvil_chain(chain_id=31003) as c:
        deployed = [deploy_gate(chain, committee.group_key) for chain in (a, b, c)]
        for gate in deployed:
            for number in range(1, 11):
                gate.transact(gate.governor, "recordProvenRoot", number, ROOTS[number])
        yield deployed


def test_contract_rebuilds_the_canonical_message_and_hash(gates: list[Gate]) -> None:
    gate = gates[0]
    for number in (1, 7, 2**40):
        expected = signing_message(network_id=NETWORK_ID, epoch=1, block_number=number,
                                   final_root=ROOTS[1])
        assert gate.contract.functions.signingMessage(number, ROOTS[1]).call() == expected
        on_chain = gate.contract.functions.hashToG1(expected).call()
        assert on_chain == bls.hash_to_g1(expected).to_eip2537()


def test_group_key_is_stored_and_compressed_like_the_library(gates: list[Gate],
                                                             committee: Committee) -> None:
    gate = gates[0]
    assert gate.contract.functions.groupKey().call() == committee.group_key.to_eip2537()
    assert gate.contract.functions.groupKeyCompressed().call() == committee.group_key.to_bytes()
    assert gate.contract.functions.epoch().call() == 1
    for seed in range(8):  # both sign bits occur among these keys
        key = bls.public_key(bls.keygen(bytes([seed]) * 32))
        assert gate.contract.functions.compressG2(key.to_eip2537()).call() == key.to_bytes()


def test_hash_to_g1_matches_on_edge_messages(gates: list[Gate]) -> None:
    gate = gates[1]
    for message in (bytes(32), b"\xff" * 32, bytes(31) + b"\x01", b"\x80" + bytes(31)):
        expected = bls.hash_to_g1(message).to_eip2537()
        assert gate.contract.functions.hashToG1(message).call() == expected


def test_threshold_signature_confirms_on_three_chains(gates: list[Gate],
                                                      committee: Committee) -> None:
    # Different t-subsets give the same group signature; each chain gets one of them.
    subsets = [(1, 2, 3), (2, 3, 4), (1, 3, 4)]
    for gate, members in zip(gates, subsets, strict=True):
        message = signing_message(network_id=NETWORK_ID, epoch=1, block_number=1,
                                  final_root=ROOTS[1])
        receipt = gate.confirm(1, ROOTS[1], committee.sign(message, members))
        (event,) = gate.events("FinalRootConfirmed", receipt)
        assert event.args.block_number == 1
        assert event.args.final_root == ROOTS[1]
        assert event.args.epoch == 1
        assert event.args.submitter == gate.submitter.address
        assert gate.contract.functions.isConfirmed(1, ROOTS[1]).call()
        assert not gate.contract.functions.isConfirmed(2, ROOTS[2]).call()
        assert receipt["gasUsed"] < CONFIRM_GAS_LIMIT


def test_duplicate_returns_without_event(gates: list[Gate], committee: Committee) -> None:
    gate = gates[0]
    receipt = gate.confirm(1, ROOTS[1], committee.sign_root(epoch=1, block_number=1,
                                                            final_root=ROOTS[1]))
    assert receipt["status"] == 1
    assert gate.events("FinalRootConfirmed", receipt) == []
    assert receipt["gasUsed"] < 40_000


def test_confirming_a_later_block_confirms_the_ones_before(gates: list[Gate],
                                                          committee: Committee) -> None:
    gate = gates[1]
    gate.confirm(4, ROOTS[4], committee.sign_root(epoch=1, block_number=4, final_root=ROOTS[4]))
    assert gate.contract.functions.lastConfirmedBlock().call() == 4
    for number in (2, 3, 4):
        assert gate.contract.functions.isConfirmed(number, ROOTS[number]).call()
    assert not gate.contract.functions.isConfirmed(3, ROOTS[4]).call()
    # A late confirmation of an earlier block is a duplicate, not an error.
    late = gate.confirm(3, ROOTS[3], committee.sign_root(epoch=1, block_number=3,
                                                         final_root=ROOTS[3]))
    assert gate.events("FinalRootConfirmed", late) == []
    name, _ = revert_name(gate, gate.governor, "recordProvenRoot", 4, ROOTS[5])
    assert name == "BlockAlreadyConfirmed"


def test_reverted_blocks_are_forgotten(gates: list[Gate], committee: Committee) -> None:
    gate = gates[2]
    gate.confirm(3, ROOTS[3], committee.sign_root(epoch=1, block_number=3, final_root=ROOTS[3]))
    gate.transact(gate.governor, "forgetBlocks", 3, 10)
    assert gate.contract.functions.lastConfirmedBlock().call() == 2
    assert not gate.contract.functions.isConfirmed(3, ROOTS[3]).call()
    assert gate.contract.functions.isConfirmed(2, ROOTS[2]).call()
    name, _ = revert_name(gate, gate.submitter, "confirmFinalRoot", 3, ROOTS[3],
                          committee.sign_root(epoch=1, block_number=3, final_root=ROOTS[3]))
    assert name == "BlockNotProven"
    for number in range(3, 11):  # re-prove for the other tests
        gate.transact(gate.governor, "recordProvenRoot", number, ROOTS[number])


def _bad(gate: Gate, number: int, root: bytes, signature: bytes) -> tuple[str, int]:
    return revert_name(gate, gate.submitter, "confirmFinalRoot", number, root, signature,
                       gas=CONFIRM_GAS_LIMIT)


def test_rejections_are_named_and_bounded(gates: list[Gate], committee: Committee,
                                          next_committee: Committee) -> None:
    gate = gates[0]
    good = committee.sign_root(epoch=1, block_number=5, final_root=ROOTS[5])
    cases = {
        "wrong key": (next_committee.sign_root(epoch=1, block_number=5, final_root=ROOTS[5]),
                      "InvalidSignature"),
        "other epoch": (committee.sign_root(epoch=2, block_number=5, final_root=ROOTS[5]),
                        "InvalidSignature"),
        "other network": (committee.sign_root(epoch=1, block_number=5, final_root=ROOTS[5],
                                              network_id=NETWORK_ID + 1), "InvalidSignature"),
        "other block": (committee.sign_root(epoch=1, block_number=6, final_root=ROOTS[5]),
                        "InvalidSignature"),
        "infinity": (bytes(128), "MalformedSignature"),
        "short": (good[:127], "MalformedSignature"),
        "off curve": (good[:127] + bytes([good[127] ^ 1]), "MalformedSignature"),
        "padding": (b"\x01" + good[1:], "MalformedSignature"),
        "x >= p": (fp(FIELD_P) + good[64:], "MalformedSignature"),
        "off subgroup": (g1_off_subgroup(), "MalformedSignature"),
    }
    for label, (signature, expected) in cases.items():
        name, gas = _bad(gate, 5, ROOTS[5], signature)
        assert name == expected, label
        assert gas < CONFIRM_GAS_LIMIT, label
    assert _bad(gate, 5, ROOTS[6], good)[0] == "RootMismatch"
    assert _bad(gate, 11, ROOTS[11], good)[0] == "BlockNotProven"
    gate.confirm(5, ROOTS[5], good)  # the good one still works after all that


def test_pause_blocks_confirmations(gates: list[Gate], committee: Committee) -> None:
    gate = gates[0]
    assert revert_name(gate, gate.submitter, "pause")[0] == "NotGovernor"
    receipt = gate.transact(gate.governor, "pause")
    assert len(gate.events("ConfirmationsPaused", receipt)) == 1
    assert gate.contract.functions.paused().call()
    signature = committee.sign_root(epoch=1, block_number=6, final_root=ROOTS[6])
    assert _bad(gate, 6, ROOTS[6], signature)[0] == "ConfirmationsPaused"
    assert revert_name(gate, gate.submitter, "unpause")[0] == "NotGovernor"
    receipt = gate.transact(gate.governor, "unpause")
    assert len(gate.events("ConfirmationsUnpaused", receipt)) == 1
    gate.confirm(6, ROOTS[6], signature)
    assert gate.contract.functions.lastConfirmedBlock().call() == 6
    assert gate.contract.functions.epoch().call() == 1


def test_deployment_fails_without_eip2537(committee: Committee) -> None:
    from deploy.gate_tools import TransactionFailedError

    with anvil_chain(chain_id=31004, extra_args=["--hardfork", "cancun"]) as old_chain, \
            pytest.raises(TransactionFailedError) as failure:
        deploy_gate(old_chain, committee.group_key)
    # The known-answer test's first MAP_FP_TO_G1 call finds no precompile.
    assert failure.value.reason in {"BlsPrecompileFailed", "Eip2537SelfTestFailed"}


def test_main_contract_hooks_refuse_bad_input(gates: list[Gate]) -> None:
    gate = gates[2]
    assert revert_name(gate, gate.governor, "recordProvenRoot", 20, bytes(32))[0] == "EmptyRoot"
    assert revert_name(gate, gate.governor, "recordProvenRoot", 2**63, ROOTS[1])[0] == \
        "BlockNumberTooLarge"
    assert revert_name(gate, gate.governor, "forgetBlocks", 0, 3)[0] == "BadRange"
    assert revert_name(gate, gate.governor, "forgetBlocks", 5, 4)[0] == "BadRange"
    assert not gate.contract.functions.isConfirmed(1, bytes(32)).call()
