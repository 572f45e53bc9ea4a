"""The reference backend: py_ecc (pure Python, slow: ~0.2-0.5 s per pairing or hash).

py_ecc's own ``G2ProofOfPossession`` is min-pk; min-sig is built here from its primitives
(``hash_to_G1``, optimized curve arithmetic, ZCash point compression, optimized pairing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, cast

from py_ecc import optimized_bls12_381 as _curve
from py_ecc.bls.g2_primitives import (
    G1_to_pubkey,
    G2_to_signature,
    pubkey_to_G1,
    signature_to_G2,
    subgroup_check,
)
from py_ecc.bls.hash_to_curve import hash_to_G1

from consensus.bls.backend import Backend, check_point
from consensus.bls.params import CURVE_ORDER, G1_COMPRESSED_SIZE, G2_COMPRESSED_SIZE

curve: Any = _curve  # py_ecc's stubs do not re-export the optimized curve API
_sha256: Any = hashlib.sha256
_DECODE_ERRORS = (ValueError, TypeError, AssertionError)  # py_ecc asserts on bad points


def _g1(data: bytes) -> Any:
    return pubkey_to_G1(cast(Any, bytes(data)))


def _g2(data: bytes) -> Any:
    return signature_to_G2(cast(Any, bytes(data)))


def _enc1(point: Any) -> bytes:
    return bytes(G1_to_pubkey(point))


def _enc2(point: Any) -> bytes:
    return bytes(G2_to_signature(point))


def _lincomb(points: Sequence[Any], scalars: Sequence[int], zero: Any) -> Any:
    acc = zero
    for point, scalar in zip(points, scalars, strict=True):
        acc = curve.add(acc, curve.multiply(point, scalar % CURVE_ORDER))
    return acc


class PyEccBackend(Backend):
    """Backend over py_ecc's optimized BLS12-381 arithmetic."""

    name = "py_ecc"

    def g1_check(self, data: bytes) -> None:
        """See :meth:`Backend.g1_check`."""
        check_point(data, G1_COMPRESSED_SIZE, "G1", _g1, subgroup_check, _DECODE_ERRORS)

    def g2_check(self, data: bytes) -> None:
        """See :meth:`Backend.g2_check`."""
        check_point(data, G2_COMPRESSED_SIZE, "G2", _g2, subgroup_check, _DECODE_ERRORS)

    def hash_to_g1(self, msg: bytes, dst: bytes) -> bytes:
        """See :meth:`Backend.hash_to_g1`."""
        return _enc1(hash_to_G1(bytes(msg), bytes(dst), _sha256))

    def g1_lincomb(self, points: Sequence[bytes], scalars: Sequence[int]) -> bytes:
        """See :meth:`Backend.g1_lincomb`."""
        return _enc1(_lincomb([_g1(p) for p in points], scalars, curve.Z1))

    def g2_lincomb(self, points: Sequence[bytes], scalars: Sequence[int]) -> bytes:
        """See :meth:`Backend.g2_lincomb`."""
        return _enc2(_lincomb([_g2(p) for p in points], scalars, curve.Z2))

    def g1_generator_mul(self, scalar: int) -> bytes:
        """See :meth:`Backend.g1_generator_mul`."""
        return _enc1(curve.multiply(curve.G1, scalar % CURVE_ORDER))

    def g2_generator_mul(self, scalar: int) -> bytes:
        """See :meth:`Backend.g2_generator_mul`."""
        return _enc2(curve.multiply(curve.G2, scalar % CURVE_ORDER))

    def pairing_product_is_one(self, pairs: Sequence[tuple[bytes, bytes]]) -> bool:
        """See :meth:`Backend.pairing_product_is_one`."""
        acc = curve.FQ12.one()
        for g1_data, g2_data in pairs:
            p, q = _g1(g1_data), _g2(g2_data)
            if curve.is_inf(p) or curve.is_inf(q):
                continue
            acc = acc * curve.pairing(q, p, final_exponentiate=False)
        return bool(curve.final_exponentiate(acc) == curve.FQ12.one())

    def g1_affine(self, data: bytes) -> tuple[int, int]:
        """See :meth:`Backend.g1_affine`."""
        point = _g1(data)
        if curve.is_inf(point):
            return 0, 0
        x, y = curve.normalize(point)
        return int(x.n), int(y.n)

    def g2_affine(self, data: bytes) -> tuple[int, int, int, int]:
        """See :meth:`Backend.g2_affine`."""
        point = _g2(data)
        if curve.is_inf(point):
            return 0, 0, 0, 0
        x, y = curve.normalize(point)
        return int(x.coeffs[0]), int(x.coeffs[1]), int(y.coeffs[0]), int(y.coeffs[1])
