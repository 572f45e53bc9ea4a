"""Regenerate tests/golden/rollup/*.json: ``python -m tests.rollup.golden_gen``.

Run only when docs/protocol.md changes; the vectors are the contract between the rollup
core, the circuit, the contracts and the node.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oracle_node.rollup import hashes
from oracle_node.rollup.pubdata import (
    Deposit,
    FullExit,
    Noop,
    Op,
    Transfer,
    Withdraw,
    encode_block_pubdata,
    encode_op,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "rollup"

OWNER = bytes.fromhex("00112233445566778899aabbccddeeff00112233")
OTHER = bytes.fromhex("ffeeddccbbaa99887766554433221100ffeeddcc")
OPS: list[Op] = [
    Noop(),
    Deposit(chain_id=1, account_id=1, token=1, amount=10**18, owner=OWNER, serial_id=0),
    Deposit(chain_id=255, account_id=0xFFFFFFFF, token=0xFFFF, amount=(1 << 128) - 1,
            owner=OTHER, serial_id=(1 << 64) - 1),
    Transfer(from_account=1, token=2, amount=12345, to_account=2, from_nonce=7),
    Withdraw(chain_id=2, account_id=3, token=1, amount=5 * 10**17, to_address=OTHER, nonce=1),
    FullExit(chain_id=1, account_id=9, token=2, amount=0, owner=OWNER, serial_id=42),
]


def op_to_json(op: Op) -> dict[str, Any]:
    """An op as a JSON object (addresses in hex, type by class name)."""
    fields = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in vars(op).items()}
    return {"type": type(op).__name__, **fields}


def main() -> None:
    """Write the golden files."""
    GOLDEN.mkdir(parents=True, exist_ok=True)
    pubdata_vectors = [{"op": op_to_json(op), "bytes": encode_op(op).hex()} for op in OPS]
    block_ops = OPS[1:]
    pubdata = encode_block_pubdata(block_ops, 6)
    old_root = (123456789).to_bytes(32, "big")
    new_root = bytes.fromhex("115cc0f5e7d690413df64c6b9662e9cf2a3617f2743245519e19607a4417189a")
    chains = [1, 2, 255]
    commitment = hashes.commitment(7, old_root, new_root, pubdata)
    ops_hashes = [hashes.ops_hash(block_ops, c) for c in chains]
    prev = bytes.fromhex("ab" * 32)
    block = {
        "block_number": 7, "old_state_root": old_root.hex(), "new_state_root": new_root.hex(),
        "capacity": 6, "ops": [op_to_json(op) for op in block_ops], "pubdata": pubdata.hex(),
        "pubdata_hash": hashes.pubdata_hash(pubdata).hex(), "commitment": commitment.hex(),
        "chains": chains, "ops_hashes": [h.hex() for h in ops_hashes],
        "empty_ops_hash": hashes.EMPTY_OPS_HASH.hex(),
        "prev_sync_hash": prev.hex(),
        "sync_hash": hashes.sync_hash(prev, commitment, ops_hashes).hex(),
        "sync_hash_from_zero": hashes.sync_hash(bytes(32), commitment, ops_hashes).hex(),
        "final_root": hashes.final_root(prev, commitment, ops_hashes).hex(),
        "public_inputs": [str(x) for x in hashes.public_inputs(
            123456789, int.from_bytes(new_root, "big"), 7, pubdata)],
    }
    (GOLDEN / "pubdata.json").write_text(json.dumps(pubdata_vectors, indent=1) + "\n")
    (GOLDEN / "block.json").write_text(json.dumps(block, indent=1) + "\n")


if __name__ == "__main__":
    main()
