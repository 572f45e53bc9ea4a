"""The curve-arithmetic seam: every backend offers the same operations on canonical bytes.

Points cross this seam as compressed bytes (48 for G1, 96 for G2, ZCash flag encoding) and
scalars as ints, so two backends can be compared byte for byte. Inputs handed to the
arithmetic methods are assumed to be validated already (``g1_check``/``g2_check`` do that once,
when typed keys and signatures are decoded).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

G1_IDENTITY = b"\xc0" + bytes(47)
"""Compressed encoding of the G1 point at infinity."""

G2_IDENTITY = b"\xc0" + bytes(95)
"""Compressed encoding of the G2 point at infinity."""


class Backend(ABC):
    """BLS12-381 arithmetic on compressed encodings; see the module docstring."""

    name: str = ""

    @abstractmethod
    def g1_check(self, data: bytes) -> None:
        """Raise a typed ``EncodingError`` unless ``data`` is a compressed G1 subgroup point."""

    @abstractmethod
    def g2_check(self, data: bytes) -> None:
        """Raise a typed ``EncodingError`` unless ``data`` is a compressed G2 subgroup point."""

    @abstractmethod
    def hash_to_g1(self, msg: bytes, dst: bytes) -> bytes:
        """RFC 9380 ``hash_to_curve`` with suite BLS12381G1_XMD:SHA-256_SSWU_RO_ under ``dst``."""

    @abstractmethod
    def g1_lincomb(self, points: Sequence[bytes], scalars: Sequence[int]) -> bytes:
        """Return ``sum(scalars[i] * points[i])`` in G1 (identity for empty input)."""

    @abstractmethod
    def g2_lincomb(self, points: Sequence[bytes], scalars: Sequence[int]) -> bytes:
        """Return ``sum(scalars[i] * points[i])`` in G2 (identity for empty input)."""

    @abstractmethod
    def g1_generator_mul(self, scalar: int) -> bytes:
        """Return ``scalar * G1``."""

    @abstractmethod
    def g2_generator_mul(self, scalar: int) -> bytes:
        """Return ``scalar * G2``."""

    @abstractmethod
    def pairing_product_is_one(self, pairs: Sequence[tuple[bytes, bytes]]) -> bool:
        """Return whether ``prod e(g1_i, g2_i) == 1`` over ``pairs`` of (G1, G2) encodings."""

    def verify(self, pk: bytes, msg: bytes, dst: bytes, sig: bytes) -> bool:
        """Return whether ``e(sig, -G2) * e(H(msg), pk) == 1`` (min-sig verification)."""
        from consensus.bls.params import CURVE_ORDER

        neg_g2 = self.g2_generator_mul(CURVE_ORDER - 1)
        return self.pairing_product_is_one([(sig, neg_g2), (self.hash_to_g1(msg, dst), pk)])

    @abstractmethod
    def g1_affine(self, data: bytes) -> tuple[int, int]:
        """Affine ``(x, y)`` of a G1 point; ``(0, 0)`` for the identity."""

    @abstractmethod
    def g2_affine(self, data: bytes) -> tuple[int, int, int, int]:
        """Affine ``(x.c0, x.c1, y.c0, y.c1)`` of a G2 point; zeros for the identity."""


def check_compressed_header(data: bytes, size: int) -> bool:
    """Validate the length, flag bits and field-element range of a compressed encoding.

    Returns ``True`` when ``data`` is the (canonical) identity encoding. Raises
    ``InvalidLengthError`` or ``NotOnCurveError`` for anything non-canonical, so both backends
    reject exactly the same inputs before curve arithmetic starts.
    """
    from consensus.bls.params import FIELD_MODULUS
    from consensus.errors import InvalidLengthError, NotOnCurveError

    if not isinstance(data, bytes | bytearray) or len(data) != size:
        raise InvalidLengthError(f"expected {size} bytes, got {len(data) if data else 0}")
    flags = data[0] & 0xE0
    if not flags & 0x80:
        raise NotOnCurveError("compression flag not set")
    body = bytes([data[0] & 0x1F]) + bytes(data[1:])
    if flags & 0x40:
        if flags & 0x20 or any(body):
            raise NotOnCurveError("non-canonical encoding of the point at infinity")
        return True
    for offset in range(0, size, 48):
        if int.from_bytes(body[offset:offset + 48], "big") >= FIELD_MODULUS:
            raise NotOnCurveError("coordinate is not a canonical field element")
    return False


def check_point(data: bytes, size: int, group: str, decode: Callable[[bytes], Any],
                in_subgroup: Callable[[Any], bool],
                decode_errors: tuple[type[Exception], ...] = (ValueError, TypeError)) -> None:
    """The whole ``g1_check``/``g2_check`` of a backend: :func:`check_compressed_header`, then
    ``decode`` (a backend's decoder raising one of ``decode_errors`` off the curve) and
    ``in_subgroup``; raises ``NotOnCurveError``/``NotInSubgroupError`` naming ``group``."""
    from consensus.errors import NotInSubgroupError, NotOnCurveError

    if check_compressed_header(data, size):
        return
    try:
        point = decode(bytes(data))
    except decode_errors as err:
        raise NotOnCurveError(f"not a {group} point: {err}") from err
    if not in_subgroup(point):
        raise NotInSubgroupError(f"{group} point outside the prime-order subgroup")
