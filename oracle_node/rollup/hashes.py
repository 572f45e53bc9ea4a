"""Block hashes binding the rollup to every chain (docs/protocol.md §3 and §4).

``commitment``, ``ops_hash``, ``sync_hash`` and ``final_root`` are what the contracts
recompute; ``public_inputs`` is the Groth16 public-input vector the verifier contract
rebuilds from calldata.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from eth_utils.crypto import keccak

from oracle_node.errors import RollupError
from oracle_node.rollup.pubdata import (
    CHUNK_BYTES,
    OP_BYTES,
    Op,
    PubdataError,
    encode_op,
    onchain_ops_of_chain,
)

BN254_R = 21888242871839275222246405745257275088548364400416034343698204186575808495617
"""The BN254 scalar field order ``r``."""
ZERO_HASH = bytes(32)
"""``syncHash_0``."""
EMPTY_OPS_HASH = keccak(b"")
"""``opsHash`` of a chain with no on-chain operation in the block (``h_0 = keccak(b"")``)."""


def _bytes32(name: str, value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise RollupError(f"{name} must be 32 bytes, got {value!r}")
    return bytes(value)


def root_to_bytes(root: int) -> bytes:
    """A field-element state root as ``bytes32`` (big-endian)."""
    if not 0 <= root < BN254_R:
        raise RollupError(f"root {root} is not a BN254 field element")
    return root.to_bytes(32, "big")


def root_from_bytes(root: bytes) -> int:
    """A ``bytes32`` state root as a field element; raise RollupError if it is not one."""
    value = int.from_bytes(_bytes32("root", root), "big")
    if value >= BN254_R:
        raise RollupError("root is not a BN254 field element")
    return value


def pubdata_hash(pubdata: bytes) -> bytes:
    """``keccak(pubdata)``."""
    return keccak(pubdata)


def commitment(block_number: int, old_state_root: bytes, new_state_root: bytes,
               pubdata: bytes) -> bytes:
    """``keccak(abi.encode(uint256 N, bytes32 old, bytes32 new, bytes32 keccak(pubdata)))``."""
    if not 0 <= block_number < 1 << 256:
        raise RollupError(f"block number {block_number} is not a uint256")
    # abi.encode of four static 32-byte words is their concatenation (eth_abi's generic
    # encoder costs ~100 µs here; tests/rollup/test_golden.py checks both agree)
    return keccak(block_number.to_bytes(32, "big") + _bytes32("old_state_root", old_state_root)
                  + _bytes32("new_state_root", new_state_root) + pubdata_hash(pubdata))


def ops_hash_of_encoded(encoded_ops: Iterable[bytes]) -> bytes:
    """The running hash ``h_j = keccak(h_{j-1} ‖ op)`` from ``h_0 = keccak(b"")``."""
    h = EMPTY_OPS_HASH
    for op in encoded_ops:
        if len(op) != OP_BYTES:
            raise PubdataError(f"an encoded op is {OP_BYTES} bytes, got {len(op)}")
        h = keccak(h + op)
    return h


def ops_hash(ops: Iterable[Op], chain_id: int) -> bytes:
    """``opsHash[chain_id]`` of a block's ops (only that chain's on-chain ops, in block order)."""
    return ops_hash_of_encoded(encode_op(op) for op in onchain_ops_of_chain(ops, chain_id))


def sync_hash(prev: bytes, commitment: bytes, ops_hashes_in_chain_order: Sequence[bytes]) -> bytes:
    """``keccak(syncHash_{N-1} ‖ commitment_N ‖ opsHash_N[c_1] ‖ … ‖ opsHash_N[c_m])``."""
    parts = [_bytes32("prev sync hash", prev), _bytes32("commitment", commitment)]
    parts.extend(_bytes32("ops hash", h) for h in ops_hashes_in_chain_order)
    return keccak(b"".join(parts))


def final_root(prev_sync_hash: bytes, commitment: bytes,
               ops_hashes_in_chain_order: Sequence[bytes]) -> bytes:
    """``final_root_N = syncHash_N`` (docs/protocol.md §4)."""
    return sync_hash(prev_sync_hash, commitment, ops_hashes_in_chain_order)


def pubdata_field_elements(pubdata: bytes) -> list[int]:
    """``p_0 … p_{2k-1}``: the pubdata packed 31 bytes per element, big-endian."""
    if len(pubdata) == 0 or len(pubdata) % OP_BYTES != 0:
        raise PubdataError(f"pubdata length {len(pubdata)} is not a positive multiple "
                           f"of {OP_BYTES}")
    return [int.from_bytes(pubdata[i:i + CHUNK_BYTES], "big")
            for i in range(0, len(pubdata), CHUNK_BYTES)]


def public_inputs(old_root: int, new_root: int, block_number: int, pubdata: bytes) -> list[int]:
    """The block proof's public inputs ``[old_root, new_root, N, p_0 … p_{2k-1}]`` (§3)."""
    for name, value in (("old_root", old_root), ("new_root", new_root),
                        ("block_number", block_number)):
        if not 0 <= value < BN254_R:
            raise RollupError(f"{name}={value} is not a BN254 field element")
    return [old_root, new_root, block_number, *pubdata_field_elements(pubdata)]
