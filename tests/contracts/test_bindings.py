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

from deploy import bindings
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
    assert compile_main(4, 3).abi == compile_main(7, 255).abi


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
    }
    for name, data in calls.items():
        assert data[:4] == keccak(functions[name].encode())[:4], name
    events = {str(i["name"]): i for i in abi if i["type"] == "event"}
    for name, signature in bindings.EVENT_SIGNATURES.items():
        item = events[name]
        assert signature == f"{name}({','.join(_type(x) for x in item['inputs'])})"
    # the normative events of docs/protocol.md §5 (the gate's are in the gate's ABI)
    assert [x["name"] for x in events["BlockCommitted"]["inputs"]] == [
        "block_number", "commitment", "sync_hash", "new_state_root", "pubdata", "ops_hashes"]
    assert [x["indexed"] for x in events["DepositQueued"]["inputs"]] == [True, True] + [False] * 3


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
    used = set(re.findall(r'"([A-Z][A-Za-z]+)"\)', source))
    assert used == set(bindings.REVERT_REASONS)
    docs = (Path(__file__).resolve().parents[2] / "docs" / "contracts.md")
    if docs.exists():
        assert all(f"`{name}`" in docs.read_text() for name in used)


def test_main_contract_leaves_room_for_the_gate() -> None:
    # EIP-170 caps runtime code at 24,576 bytes; the oracle gate module is compiled into the
    # same contract, so the main contract keeps to half of it even at capacity 32.
    assert len(compile_main(32, 8).runtime_bytecode) <= 12_288
