"""The canonical signing message (docs/protocol.md §6).

``message = keccak(abi.encode(bytes32 DOMAIN_TAG, uint256 network_id, uint256 epoch,
uint256 block_number, bytes32 final_root))`` with ``DOMAIN_TAG =
keccak(b"zkLink-oracle/confirmFinalRoot/v1")``. The contract recomputes the same bytes.
"""

from __future__ import annotations

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from consensus.errors import EncodingError

DOMAIN_TAG: bytes = keccak(b"zkLink-oracle/confirmFinalRoot/v1")
"""32-byte domain tag that separates this signing context from any other use of the key."""

_UINT256_LIMIT = 1 << 256


def _check_uint256(**values: int) -> None:
    """Raise :class:`EncodingError` naming the first value that is not a uint256."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _UINT256_LIMIT:
            raise EncodingError(f"{name} must be a uint256, got {value!r}")


def signing_message(*, network_id: int, epoch: int, block_number: int, final_root: bytes) -> bytes:
    """Return the 32-byte message the committee signs for ``final_root`` of ``block_number``.

    Raises :class:`~consensus.errors.EncodingError` when an integer is outside uint256 or
    ``final_root`` is not exactly 32 bytes.
    """
    _check_uint256(network_id=network_id, epoch=epoch, block_number=block_number)
    if not isinstance(final_root, bytes | bytearray) or len(final_root) != 32:
        raise EncodingError("final_root must be exactly 32 bytes")
    encoded = encode(
        ["bytes32", "uint256", "uint256", "uint256", "bytes32"],
        [DOMAIN_TAG, network_id, epoch, block_number, bytes(final_root)],
    )
    return bytes(keccak(encoded))


HANDOVER_TAG: bytes = keccak(b"zkLink-oracle/handover/v1")
"""Domain tag of the group-key handover message (docs/protocol.md §6)."""


def handover_message(*, network_id: int, old_epoch: int, new_key: bytes) -> bytes:
    """Return the 32-byte message the current group key signs to hand over to ``new_key``.

    ``keccak(abi.encode(bytes32 HANDOVER_TAG, uint256 network_id, uint256 old_epoch,
    bytes32 keccak(new_key)))`` where ``new_key`` is the 96-byte compressed G2 group key;
    the gate contract recomputes the same bytes. Raises
    :class:`~consensus.errors.EncodingError` on out-of-range integers or a wrong key length.
    """
    _check_uint256(network_id=network_id, old_epoch=old_epoch)
    if not isinstance(new_key, bytes | bytearray) or len(new_key) != 96:
        raise EncodingError("new_key must be the 96-byte compressed group key")
    encoded = encode(
        ["bytes32", "uint256", "uint256", "bytes32"],
        [HANDOVER_TAG, network_id, old_epoch, keccak(bytes(new_key))],
    )
    return bytes(keccak(encoded))
