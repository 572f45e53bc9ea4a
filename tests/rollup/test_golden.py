"""Golden vectors of docs/protocol.md §2-§4 (tests/golden/rollup/*.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from oracle_node.rollup import hashes
from oracle_node.rollup.pubdata import (
    OP_BYTES,
    Deposit,
    FullExit,
    Noop,
    Op,
    Transfer,
    Withdraw,
    decode_block_pubdata,
    decode_op,
    encode_block_pubdata,
    encode_op,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "rollup"
_CLASSES: dict[str, Any] = {c.__name__: c for c in (Noop, Deposit, Transfer, Withdraw, FullExit)}


def op_from_json(obj: dict[str, Any]) -> Op:
    """Rebuild an op from its golden JSON form."""
    fields = {k: (bytes.fromhex(v) if isinstance(v, str) else v)
              for k, v in obj.items() if k != "type"}
    op: Op = _CLASSES[obj["type"]](**fields)
    return op


def load(name: str) -> Any:
    """Load one golden file."""
    return json.loads((GOLDEN / name).read_text())


def test_pubdata_vectors() -> None:
    vectors = load("pubdata.json")
    assert len(vectors) == 6
    for vector in vectors:
        op = op_from_json(vector["op"])
        raw = bytes.fromhex(vector["bytes"])
        assert len(raw) == OP_BYTES
        assert encode_op(op) == raw
        assert decode_op(raw) == op


def test_deposit_layout_by_hand() -> None:
    owner = bytes(range(20))
    raw = encode_op(Deposit(chain_id=3, account_id=0x01020304, token=0x0506, amount=7,
                            owner=owner, serial_id=0x0A0B))
    assert raw == (bytes([1, 3, 1, 2, 3, 4, 5, 6]) + (7).to_bytes(16, "big") + owner
                   + (0x0A0B).to_bytes(8, "big") + bytes(10))


def test_block_vector() -> None:
    block = load("block.json")
    ops = [op_from_json(o) for o in block["ops"]]
    pubdata = bytes.fromhex(block["pubdata"])
    assert encode_block_pubdata(ops, block["capacity"]) == pubdata
    assert decode_block_pubdata(pubdata) == [*ops, Noop()]
    old = bytes.fromhex(block["old_state_root"])
    new = bytes.fromhex(block["new_state_root"])
    assert hashes.pubdata_hash(pubdata).hex() == block["pubdata_hash"]
    commitment = hashes.commitment(block["block_number"], old, new, pubdata)
    assert commitment.hex() == block["commitment"]
    by_abi = keccak(abi_encode(["uint256", "bytes32", "bytes32", "bytes32"],
                               [block["block_number"], old, new, keccak(pubdata)]))
    assert commitment == by_abi
    ops_hashes = [hashes.ops_hash(ops, c) for c in block["chains"]]
    assert [h.hex() for h in ops_hashes] == block["ops_hashes"]
    prev = bytes.fromhex(block["prev_sync_hash"])
    assert hashes.sync_hash(prev, commitment, ops_hashes).hex() == block["sync_hash"]
    assert hashes.final_root(prev, commitment, ops_hashes).hex() == block["final_root"]
    assert hashes.sync_hash(bytes(32), commitment, ops_hashes).hex() == \
        block["sync_hash_from_zero"]
    assert [str(x) for x in hashes.public_inputs(
        int(block["old_state_root"], 16), int(block["new_state_root"], 16),
        block["block_number"], pubdata)] == block["public_inputs"]


def test_ops_hash_by_hand() -> None:
    block = load("block.json")
    ops = [op_from_json(o) for o in block["ops"]]
    # chain 1 has the first deposit and the full exit; chain 2 the withdraw; 255 the big deposit
    h = keccak(b"")
    for op in (ops[0], ops[4]):
        h = keccak(h + encode_op(op))
    assert h.hex() == block["ops_hashes"][0]
    assert hashes.ops_hash(ops, 77) == keccak(b"") == bytes.fromhex(block["empty_ops_hash"])


def test_public_input_packing() -> None:
    pubdata = bytes(range(62)) + bytes(62)
    inputs = hashes.public_inputs(1, 2, 3, pubdata)
    assert inputs[:3] == [1, 2, 3]
    assert inputs[3] == int.from_bytes(bytes(range(31)), "big")
    assert inputs[4] == int.from_bytes(bytes(range(31, 62)), "big")
    assert inputs[5:] == [0, 0]
