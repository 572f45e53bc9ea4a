"""Typed keys and signatures with strict decoding.

``from_bytes`` is the strict decoder for anything that comes from outside (peers, chains,
files): wrong length, bad flags, non-canonical coordinates, not on the curve, outside the
subgroup or the identity raise a subclass of ``consensus.errors.EncodingError``. The plain
constructors are for values produced by this package and only check the length.
"""

from __future__ import annotations

from dataclasses import dataclass

from consensus.bls.backend import G1_IDENTITY, G2_IDENTITY, Backend
from consensus.bls.params import (
    CURVE_ORDER,
    G1_COMPRESSED_SIZE,
    G2_COMPRESSED_SIZE,
    SCALAR_SIZE,
    fp_to_eip2537,
)
from consensus.bls.registry import resolve
from consensus.errors import IdentityPointError, InvalidLengthError, InvalidScalarError


def _as_bytes(data: object, size: int, what: str) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidLengthError(f"{what} must be bytes, got {type(data).__name__}")
    raw = bytes(data)
    if len(raw) != size:
        raise InvalidLengthError(f"{what} must be {size} bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True, repr=False)
class SecretKey:
    """A BLS secret scalar in ``1..r-1``."""

    value: int

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise InvalidScalarError("secret key must be an int")
        if not 0 < self.value < CURVE_ORDER:
            raise InvalidScalarError("secret key must be in 1..r-1")

    def __repr__(self) -> str:
        return "SecretKey(<redacted>)"

    def to_bytes(self) -> bytes:
        """32-byte big-endian encoding."""
        return self.value.to_bytes(SCALAR_SIZE, "big")

    @classmethod
    def from_bytes(cls, data: bytes) -> SecretKey:
        """Strictly decode 32 big-endian bytes (``InvalidScalarError`` for 0 or >= r)."""
        return cls(int.from_bytes(_as_bytes(data, SCALAR_SIZE, "secret key"), "big"))


@dataclass(frozen=True)
class PublicKey:
    """A BLS public key: a G2 point, 96-byte compressed."""

    data: bytes

    def __post_init__(self) -> None:
        _as_bytes(self.data, G2_COMPRESSED_SIZE, "public key")

    def __repr__(self) -> str:
        return f"PublicKey({self.data.hex()[:16]}…)"

    def to_bytes(self) -> bytes:
        """96-byte compressed encoding."""
        return self.data

    @classmethod
    def from_bytes(cls, data: bytes, *, backend: Backend | str | None = None) -> PublicKey:
        """Strictly decode a compressed G2 public key (identity rejected)."""
        raw = _as_bytes(data, G2_COMPRESSED_SIZE, "public key")
        resolve(backend).g2_check(raw)
        if raw == G2_IDENTITY:
            raise IdentityPointError("public key is the point at infinity")
        return cls(raw)

    def to_eip2537(self, *, backend: Backend | str | None = None) -> bytes:
        """256-byte EIP-2537 encoding ``x.c0 ‖ x.c1 ‖ y.c0 ‖ y.c1``, each Fp in 64 bytes."""
        return b"".join(fp_to_eip2537(c) for c in resolve(backend).g2_affine(self.data))


@dataclass(frozen=True)
class Signature:
    """A BLS signature (or any G1 point, e.g. a message hash): 48-byte compressed."""

    data: bytes

    def __post_init__(self) -> None:
        _as_bytes(self.data, G1_COMPRESSED_SIZE, "signature")

    def __repr__(self) -> str:
        return f"Signature({self.data.hex()[:16]}…)"

    def to_bytes(self) -> bytes:
        """48-byte compressed encoding."""
        return self.data

    @classmethod
    def from_bytes(cls, data: bytes, *, backend: Backend | str | None = None) -> Signature:
        """Strictly decode a compressed G1 signature (identity rejected)."""
        raw = _as_bytes(data, G1_COMPRESSED_SIZE, "signature")
        resolve(backend).g1_check(raw)
        if raw == G1_IDENTITY:
            raise IdentityPointError("signature is the point at infinity")
        return cls(raw)

    def to_eip2537(self, *, backend: Backend | str | None = None) -> bytes:
        """128-byte EIP-2537 encoding ``x ‖ y``, each Fp in 64 bytes."""
        return b"".join(fp_to_eip2537(c) for c in resolve(backend).g1_affine(self.data))
