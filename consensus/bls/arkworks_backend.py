"""The fast backend: py-arkworks-bls12381 (Rust arkworks)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import py_arkworks_bls12381 as ark

from consensus.bls.backend import (
    G1_IDENTITY,
    G2_IDENTITY,
    Backend,
    check_point,
)
from consensus.bls.params import CURVE_ORDER, G1_COMPRESSED_SIZE, G2_COMPRESSED_SIZE

_G1_GEN: Any = ark.G1Point()
_G2_GEN: Any = ark.G2Point()


# Validity of an encoding is a pure function of its bytes; a DKG checks the same commitments
# at several steps, so remember the ones that passed (bounded).
_VALID_G2: set[bytes] = set()
_VALID_G2_LIMIT = 16384


@lru_cache(maxsize=4096)
def _g1(data: bytes) -> Any:
    if data == G1_IDENTITY:
        return ark.G1Point.identity()
    return ark.G1Point.from_compressed_bytes_unchecked(data)


@lru_cache(maxsize=16384)
def _g2(data: bytes) -> Any:
    if data == G2_IDENTITY:
        return ark.G2Point.identity()
    return ark.G2Point.from_compressed_bytes_unchecked(data)


@lru_cache(maxsize=1024)
def _hash(msg: bytes, dst: bytes) -> Any:
    return ark.G1Point.hash_to_curve(msg, dst)


def _in_subgroup(point: Any) -> bool:
    return bool(point.is_in_subgroup())


def _scalar(value: int) -> Any:
    return ark.Scalar(value % CURVE_ORDER)


def _lincomb(group: Any, decode: Callable[[bytes], Any], identity: bytes,
             points: Sequence[bytes], scalars: Sequence[int]) -> bytes:
    """``sum scalars[i] * points[i]`` in ``group`` (``ark.G1Point``/``ark.G2Point``), compressed."""
    if not points:
        return identity
    native = [decode(bytes(p)) for p in points]
    result = group.multiexp_unchecked(native, [_scalar(s) for s in scalars])
    return bytes(result.to_compressed_bytes())


class ArkworksBackend(Backend):
    """Backend over py-arkworks-bls12381; decoded points and message hashes are LRU-cached."""

    name = "arkworks"

    def g1_check(self, data: bytes) -> None:
        """See :meth:`Backend.g1_check`."""
        check_point(data, G1_COMPRESSED_SIZE, "G1", ark.G1Point.from_compressed_bytes_unchecked,
                    _in_subgroup)

    def g2_check(self, data: bytes) -> None:
        """See :meth:`Backend.g2_check`; encodings already found valid are remembered."""
        if isinstance(data, bytes | bytearray) and bytes(data) in _VALID_G2:
            return
        check_point(data, G2_COMPRESSED_SIZE, "G2", ark.G2Point.from_compressed_bytes_unchecked,
                    _in_subgroup)
        if len(_VALID_G2) >= _VALID_G2_LIMIT:
            _VALID_G2.clear()
        _VALID_G2.add(bytes(data))

    def hash_to_g1(self, msg: bytes, dst: bytes) -> bytes:
        """See :meth:`Backend.hash_to_g1`."""
        return bytes(_hash(bytes(msg), bytes(dst)).to_compressed_bytes())

    def g1_lincomb(self, points: Sequence[bytes], scalars: Sequence[int]) -> bytes:
        """See :meth:`Backend.g1_lincomb`."""
        return _lincomb(ark.G1Point, _g1, G1_IDENTITY, points, scalars)

    def g2_lincomb(self, points: Sequence[bytes], scalars: Sequence[int]) -> bytes:
        """See :meth:`Backend.g2_lincomb`."""
        return _lincomb(ark.G2Point, _g2, G2_IDENTITY, points, scalars)

    def g1_generator_mul(self, scalar: int) -> bytes:
        """See :meth:`Backend.g1_generator_mul`."""
        return bytes((_G1_GEN * _scalar(scalar)).to_compressed_bytes())

    def g2_generator_mul(self, scalar: int) -> bytes:
        """See :meth:`Backend.g2_generator_mul`."""
        return bytes((_G2_GEN * _scalar(scalar)).to_compressed_bytes())

    def pairing_product_is_one(self, pairs: Sequence[tuple[bytes, bytes]]) -> bool:
        """See :meth:`Backend.pairing_product_is_one`."""
        g1s = [_g1(bytes(a)) for a, _ in pairs]
        g2s = [_g2(bytes(b)) for _, b in pairs]
        return bool(ark.GT.pairing_check(g1s, g2s))

    def verify(self, pk: bytes, msg: bytes, dst: bytes, sig: bytes) -> bool:
        """See :meth:`Backend.verify`; uses the cached native hash point."""
        return bool(ark.GT.pairing_check([_g1(sig), _hash(msg, dst)], [-_G2_GEN, _g2(pk)]))

    def g1_affine(self, data: bytes) -> tuple[int, int]:
        """See :meth:`Backend.g1_affine`."""
        raw = bytes(_g1(bytes(data)).to_xy_bytes_be())
        return int.from_bytes(raw[:48], "big"), int.from_bytes(raw[48:], "big")

    def g2_affine(self, data: bytes) -> tuple[int, int, int, int]:
        """See :meth:`Backend.g2_affine`."""
        raw = bytes(_g2(bytes(data)).to_xy_bytes_be())
        c = [int.from_bytes(raw[i:i + 48], "big") for i in range(0, 192, 48)]
        return c[0], c[1], c[2], c[3]
