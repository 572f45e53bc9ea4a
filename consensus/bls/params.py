"""BLS12-381 parameters of the min-sig scheme and RFC 9380 ``hash_to_field`` for G1.

``hash_to_field_g1`` is a self-contained implementation (hashlib only) so the on-chain
hash-to-curve (expand_message_xmd over the sha256 precompile + MAP_FP_TO_G1) can be debugged
step by step against it, independently of either curve backend.
"""

from __future__ import annotations

import hashlib

FIELD_MODULUS = int(
    "1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab",
    16,
)
"""The base field prime p of BLS12-381."""

CURVE_ORDER = int("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001", 16)
"""The prime order r of G1, G2 and the scalar field."""

DST_SIGNATURE = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_POP_"
"""Domain separation tag of signatures (min-sig, proof-of-possession scheme)."""

DST_POP = b"BLS_POP_BLS12381G1_XMD:SHA-256_SSWU_RO_POP_"
"""Domain separation tag of proofs of possession (hash of the compressed public key)."""

G1_COMPRESSED_SIZE = 48
G2_COMPRESSED_SIZE = 96
SCALAR_SIZE = 32
EIP2537_FP_SIZE = 64

_HASH_TO_FIELD_L = 64  # ceil((ceil(log2(p)) + k) / 8) with k = 128


def expand_message_xmd(msg: bytes, dst: bytes, len_in_bytes: int) -> bytes:
    """RFC 9380 §5.3.1 ``expand_message_xmd`` with SHA-256."""
    if len(dst) > 255:
        raise ValueError("DST longer than 255 bytes must be hashed first (RFC 9380 §5.3.3)")
    b_in_bytes, r_in_bytes = 32, 64
    ell = -(-len_in_bytes // b_in_bytes)
    if ell > 255 or len_in_bytes > 65535:
        raise ValueError("requested output too long for expand_message_xmd")
    dst_prime = dst + bytes([len(dst)])
    msg_prime = bytes(r_in_bytes) + msg + len_in_bytes.to_bytes(2, "big") + b"\x00" + dst_prime
    b_0 = hashlib.sha256(msg_prime).digest()
    b_prev = hashlib.sha256(b_0 + b"\x01" + dst_prime).digest()
    out = [b_prev]
    for i in range(2, ell + 1):
        mixed = bytes(x ^ y for x, y in zip(b_0, b_prev, strict=True))
        b_prev = hashlib.sha256(mixed + bytes([i]) + dst_prime).digest()
        out.append(b_prev)
    return b"".join(out)[:len_in_bytes]


def hash_to_field_g1(msg: bytes, dst: bytes = DST_SIGNATURE) -> tuple[int, int]:
    """Return ``(u0, u1)``, the two Fp elements of RFC 9380 ``hash_to_field(msg, 2)`` for G1."""
    uniform = expand_message_xmd(msg, dst, 2 * _HASH_TO_FIELD_L)
    u0 = int.from_bytes(uniform[:_HASH_TO_FIELD_L], "big") % FIELD_MODULUS
    u1 = int.from_bytes(uniform[_HASH_TO_FIELD_L:], "big") % FIELD_MODULUS
    return u0, u1


def fp_to_eip2537(value: int) -> bytes:
    """Encode one Fp element as EIP-2537 does: 16 zero bytes then 48 bytes big-endian."""
    return value.to_bytes(EIP2537_FP_SIZE, "big")
