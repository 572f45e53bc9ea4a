"""Bindings and ABI golden files: the encoders and event decoders match the compiled contract."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from deploy import _events, bindings
from deploy.compile import compile_file
from deploy.deployer import compile_main
from deploy.errors import BindingError
from oracle_node.rollup import hashes

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "abi"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _type(item: dict[str, Any]) -> str:
    t = str(item["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(_type(c) for c in item["components"]) + ")" + t[len("tuple"):]
    return t


def _signatures(abi: tuple[dict[str, Any], ...], kind: str) -> dict[str, str]:
    return {str(i["name"]): f"{i['name']}({','.join(_type(x) for x in i['inputs'])})"
            for i in abi if i["type"] == kind}


@pytest.mark.parametrize(("golden", "compile_it"), [
    ("zklink_main.json", lambda: compile_main(4, 3)),
    ("test_token.json", lambda: compile_file("test_token.vy")),
])
def test_abi_matches_golden(golden: str, compile_it: Any) -> None:
    abi = list(compile_it().abi)
    path = GOLDEN / golden
    if UPDATE:
        path.write_text(json.dumps(abi, indent=1, sort_keys=True))
    assert json.loads(path.read_text()) == json.loads(json.dumps(abi)), \
        f"ABI changed: review and regenerate with UPDATE_GOLDEN=1 ({path})"


def test_main_abi_does_not_depend_on_template_parameters() -> None:
    # (32, 8, 10) is also the size test's build: the compile is cached per process
    assert compile_main(4, 3).abi == compile_main(32, 8, 10).abi


def test_encoders_and_events_match_the_abi() -> None:
    abi = tuple(json.loads((GOLDEN / "zklink_main.json").read_text()))
    functions = _signatures(abi, "function")
    stored = bindings.StoredBlock.genesis(bytes(32))
    block = bindings.CommitBlock(1, bytes(32), bytes(62), (bytes(32),))
    calls = {
        "commitBlocks": bindings.encode_commit_blocks(stored, [block]),
        "proveBlocks": bindings.encode_prove_blocks([(stored, b"", bytes(256))]),
        "executeBlocks": bindings.encode_execute_blocks([(stored, b"")]),
        "revertBlocks": bindings.encode_revert_blocks([stored]),
        "depositETH": bindings.encode_deposit_eth("0x" + "11" * 20),
        "depositERC20": bindings.encode_deposit_erc20(2, 1, "0x" + "11" * 20),
        "requestFullExit": bindings.encode_request_full_exit(1, 1),
        "withdrawPendingBalance": bindings.encode_withdraw_pending_balance(1, 1),
        "activateExodusMode": bindings.encode_activate_exodus_mode(),
        "confirmFinalRoot": bindings.encode_confirm_final_root(1, bytes(32), bytes(128)),
        "isConfirmed": bindings.encode_is_confirmed(1, bytes(32)),
    }
    for name, data in calls.items():
        assert data[:4] == keccak(functions[name].encode())[:4], name
    events = {str(i["name"]): i for i in abi if i["type"] == "event"}
    signer_sets_abi = compile_file("gate/signer_sets.vy").abi
    events.update({str(i["name"]): i for i in signer_sets_abi if i["type"] == "event"})
    assert set(bindings.EVENT_SIGNATURES) == set(events)  # every event decodes
    for name, signature in bindings.EVENT_SIGNATURES.items():
        item = events[name]
        assert signature == f"{name}({','.join(_type(x) for x in item['inputs'])})"
        kinds = tuple("i" if x["indexed"] else "d" for x in item["inputs"])
        assert kinds == _events._EVENTS[name].kinds, name
    # the normative events of docs/protocol.md §5
    assert [x["name"] for x in events["BlockCommitted"]["inputs"]] == [
        "block_number", "commitment", "sync_hash", "new_state_root", "pubdata", "ops_hashes"]
    assert [x["indexed"] for x in events["DepositQueued"]["inputs"]] == [True, True] + [False] * 3
    assert [x["name"] for x in events["SignerSetProposed"]["inputs"]] == [
        "epoch", "proposal_id", "threshold", "activation_block", "peer_ids", "member_keys", "pops"]
    with pytest.raises(BindingError):
        bindings.encode_confirm_final_root(1, bytes(32), bytes(48))  # compressed: not on-chain


def test_gate_event_decoding() -> None:
    submitter = "0x" + "ab" * 20
    log = {"topics": ["0x" + bindings.EVENT_TOPICS["FinalRootConfirmed"].hex(),
                      "0x" + (9).to_bytes(32, "big").hex(),
                      "0x" + bytes(12).hex() + "ab" * 20],
           "data": "0x" + abi_encode(["bytes32", "uint256"], [b"\x05" * 32, 2]).hex()}
    event = bindings.decode_log(log)
    assert isinstance(event, bindings.FinalRootConfirmed)
    assert event == bindings.FinalRootConfirmed(9, b"\x05" * 32, 2, event.submitter)
    assert event.submitter.lower() == submitter
    paused = {"topics": ["0x" + bindings.EVENT_TOPICS["ConfirmationsPaused"].hex()], "data": "0x"}
    assert bindings.decode_log(paused) == bindings.ConfirmationsPaused()
    proposal = {"topics": ["0x" + bindings.EVENT_TOPICS["SignerSetProposed"].hex(),
                           "0x" + (1).to_bytes(32, "big").hex(),
                           "0x" + (3).to_bytes(32, "big").hex()],
                "data": "0x" + abi_encode(
                    ["uint256", "uint256", "bytes[]", "bytes[]", "bytes[]"],
                    [2, 100, [b"peer"], [bytes(96)], [bytes(48)]]).hex()}
    assert bindings.decode_log(proposal) == bindings.SignerSetProposed(
        1, 3, 2, 100, (b"peer",), (bytes(96),), (bytes(48),))


b32 = st.binary(min_size=32, max_size=32)


@settings(max_examples=30, deadline=None)
@given(prev_sync=b32, old_root=st.integers(0, hashes.BN254_R - 1),
       new_root=st.integers(0, hashes.BN254_R - 1), n=st.integers(1, 2**40),
       pubdata=st.binary(min_size=124, max_size=124), ops=st.lists(b32, min_size=1, max_size=5))
def test_stored_block_after_follows_protocol(prev_sync: bytes, old_root: int, new_root: int,
                                             n: int, pubdata: bytes, ops: list[bytes]) -> None:
    prev = bindings.StoredBlock(n - 1, 0, bytes(32), bytes(32), hashes.root_to_bytes(old_root),
                                bytes(32), prev_sync)
    block = bindings.CommitBlock(n, hashes.root_to_bytes(new_root), pubdata, tuple(ops))
    stored = bindings.stored_block_after(prev, block, 1)
    c = hashes.commitment(n, prev.new_state_root, block.new_state_root, pubdata)
    assert stored.commitment == c
    assert stored.final_root == hashes.final_root(prev_sync, c, ops)
    assert stored.priority_ops == sum(1 for i in (0, 62) if pubdata[i] in (1, 4)
                                      and pubdata[i + 1] == 1)


def test_decode_log_round_trip_and_rejections() -> None:
    topic = bindings.EVENT_TOPICS["BlockCommitted"]
    data = abi_encode(["bytes32", "bytes32", "bytes32", "bytes", "bytes32[]"],
                      [b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"pub", [b"\x04" * 32]])
    log = {"topics": ["0x" + topic.hex(), "0x" + (7).to_bytes(32, "big").hex()],
           "data": "0x" + data.hex()}
    assert bindings.decode_log(log) == bindings.BlockCommitted(
        7, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"pub", (b"\x04" * 32,))
    assert bindings.decode_log({"topics": ["0x" + "00" * 32], "data": "0x"}) is None
    with pytest.raises(BindingError):
        bindings.decode_log({**log, "data": "0x1234"})
    with pytest.raises(BindingError):
        bindings.decode_log({**log, "topics": log["topics"][:1]})
    with pytest.raises(BindingError):
        bindings.decode_log({"data": "0x"})


def test_revert_reason_and_proof_split() -> None:
    payload = keccak(b"Error(string)")[:4] + abi_encode(["string"], ["WrongProof"])
    assert bindings.decode_revert_reason(payload) == "WrongProof"
    assert bindings.decode_revert_reason(b"\x00" * 4) is None
    assert bindings.decode_revert_reason(payload[:4] + b"\x01") is None
    assert set(bindings.REVERT_REASONS) >= {"WrongProof", "NotConfirmed", "PriorityOpMismatch"}
    assert bindings.split_proof(bytes(range(32)) * 8)[7] == int.from_bytes(bytes(range(32)),
                                                                          "big")
    with pytest.raises(BindingError):
        bindings.split_proof(bytes(255))


def test_every_revert_reason_is_documented() -> None:
    import re

    from deploy.compile import CONTRACTS_DIR

    source = "".join(p.read_text() for p in (CONTRACTS_DIR / "main").glob("*.vy"))
    assert not re.search(r"^\s+assert ", source, re.M)  # all checks use guard.check (size)
    source += "".join(p.read_text() for p in (CONTRACTS_DIR / "gate").glob("*.vy"))
    used = set(re.findall(r'(?:"|raise ")([A-Z][A-Za-z0-9]+)"(?:\)|$)', source, re.M))
    assert used == set(bindings.REVERT_REASONS)
    docs = Path(__file__).resolve().parents[2] / "docs"
    text = (docs / "contracts.md").read_text() + (docs / "gate.md").read_text()
    assert {name for name in used if f"`{name}`" not in text} == set()


def test_main_contract_with_gate_fits_eip170() -> None:
    # EIP-170 caps runtime code at 24,576 bytes and anvil enforces it; the wired contract
    # measured 20,294 bytes (k = 4, 3 chains). Keep 3 kB of headroom at k = 32 with 8 chains.
    assert len(compile_main(32, 8, 10).runtime_bytecode) <= 24_576 - 3_072


def test_node_and_harness_encoders_agree_with_the_bindings() -> None:
    # one calldata layout and one set of event ABIs across node, harness and contract
    from oracle_node.chain.events import EVENTS
    from oracle_node.pipeline.senders import encode_confirm
    from testnet.harness.fallback_signer import encode_confirm as harness_encode_confirm

    signature, final_root = bytes(range(128)), b"\x07" * 32
    expected = bindings.encode_confirm_final_root(12, final_root, signature)
    assert encode_confirm(12, final_root, signature) == expected
    assert harness_encode_confirm(12, final_root, signature) == expected
    for name, event in EVENTS.items():
        assert event.signature == bindings.EVENT_SIGNATURES[name], name
        abi = _events._EVENTS[name]
        assert (event.indexed, event.data) == (abi.indexed, abi.data), name
