"""Pure helpers of deploy/gate_tools.py and compilation of the gate contracts."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode, encode
from eth_utils.crypto import keccak

from deploy.compile import compile_file
from deploy.gate_tools import (
    HANDOVER_TAG,
    PROPOSE_SIGNATURE,
    GateToolError,
    SignerSetMember,
    group_key_eip2537,
    handover_message,
    key_blob_initcode,
    propose_signer_set_calldata,
    signature_eip2537,
    signer_sets_contract,
)

from .support import Committee, harness_contract


def test_key_blob_initcode_returns_the_key_as_code(committee: Committee) -> None:
    key = committee.group_key.to_eip2537()
    initcode = key_blob_initcode(key)
    assert initcode.endswith(key)
    assert initcode[:10] == bytes.fromhex("6101008060" "0a5f395ff3")
    assert group_key_eip2537(committee.group_key.to_bytes()) == key
    with pytest.raises(GateToolError):
        key_blob_initcode(key[:255])
    with pytest.raises(GateToolError):
        key_blob_initcode(b"\x01" + key[1:])
    with pytest.raises(GateToolError):
        group_key_eip2537(b"\x00" * 96)


def test_signature_conversion_is_strict(committee: Committee) -> None:
    from consensus import threshold

    sig = threshold.partial_sign(committee.shares[0], b"m" * 32).signature
    assert signature_eip2537(sig.to_bytes()) == sig.to_eip2537()
    with pytest.raises(GateToolError):
        signature_eip2537(b"\xff" * 48)


def test_handover_message_binds_network_epoch_and_key() -> None:
    key = b"\xa1" * 96
    expected = keccak(encode(["bytes32", "uint256", "uint256", "bytes32"],
                             [keccak(b"zkLink-oracle/handover/v1"), 5, 3, keccak(key)]))
    assert keccak(b"zkLink-oracle/handover/v1") == HANDOVER_TAG
    assert handover_message(network_id=5, old_epoch=3, new_key=key) == expected
    variants = {handover_message(network_id=6, old_epoch=3, new_key=key),
                handover_message(network_id=5, old_epoch=4, new_key=key),
                handover_message(network_id=5, old_epoch=3, new_key=b"\xa2" * 96)}
    assert expected not in variants
    assert len(variants) == 3
    with pytest.raises(GateToolError):
        handover_message(network_id=5, old_epoch=3, new_key=key[:48])


def test_proposal_calldata_round_trips() -> None:
    members = [SignerSetMember(peer_id=bytes([i]) * 38, public_key=bytes([i]) * 96,
                               pop=bytes([i]) * 48) for i in range(1, 4)]
    data = propose_signer_set_calldata(members, 2, 99)
    assert data[:4] == keccak(PROPOSE_SIGNATURE.encode())[:4]
    peer_ids, keys, pops, t, block = decode(
        ["bytes[]", "bytes[]", "bytes[]", "uint256", "uint256"], data[4:])
    assert list(peer_ids) == [m.peer_id for m in members]
    assert list(keys) == [m.public_key for m in members]
    assert list(pops) == [m.pop for m in members]
    assert (t, block) == (2, 99)
    for bad_t in (0, 4):
        with pytest.raises(GateToolError):
            propose_signer_set_calldata(members, bad_t, 99)
    with pytest.raises(GateToolError):
        propose_signer_set_calldata([SignerSetMember(b"", b"\x01" * 96, b"\x01" * 48)], 1, 9)
    with pytest.raises(GateToolError):
        propose_signer_set_calldata([], 1, 9)


def test_contracts_compile_and_expose_the_gate_api() -> None:
    names = {entry.get("name") for entry in harness_contract().abi}
    for expected in ("confirmFinalRoot", "isConfirmed", "handoverGroupKey", "pause", "unpause",
                     "FinalRootConfirmed", "GroupKeyReplaced", "recordProvenRoot"):
        assert expected in names
    selectors = {entry["name"]: entry for entry in signer_sets_contract().abi
                 if entry["type"] == "function"}
    propose = selectors["proposeSignerSet"]
    assert [i["type"] for i in propose["inputs"]] == ["bytes[]", "bytes[]", "bytes[]",
                                                      "uint256", "uint256"]
    for path in ("timelock.vy", "ecdsa_multisig.vy", "gate/oracle_gate.vy"):
        assert compile_file(path).bytecode


def test_gate_code_leaves_room_in_the_main_contract() -> None:
    # EIP-170: a main contract (which initializes the gate) must stay <= 24,576 bytes of
    # runtime code; the gate's share is kept under 9 kB.
    import vyper
    from vyper.compiler.input_bundle import FilesystemInputBundle

    from deploy.compile import CONTRACTS_DIR

    out = vyper.compile_code((CONTRACTS_DIR / "gate/oracle_gate.vy").read_text(),
                             contract_path="gate/oracle_gate.vy",
                             input_bundle=FilesystemInputBundle([CONTRACTS_DIR]),
                             output_formats=["bytecode_runtime"])
    assert len(bytes.fromhex(str(out["bytecode_runtime"]).removeprefix("0x"))) < 9_000
