"""Typed keys and signatures with strict decoding.

``from_bytes`` is the strict decoder for anything that comes from outside (peers, chains,
files): wrong length, bad flags, non-canonical coordinates, not on the curve, outside the
subgroup or the identity raise a subclass of ``consensus.errors.EncodingError``. The plain
constructors are for values produced by this package and only check the length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

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


@dataclass(frozen=True, repr=False)
class _CompressedPoint:
    """A compressed curve point; :class:`PublicKey` (G2) and :class:`Signature` (G1) fix the
    group through the class constants below."""

    data: bytes

    _SIZE: ClassVar[int]
    _WHAT: ClassVar[str]
    _IDENTITY: ClassVar[bytes]
    _IN_G2: ClassVar[bool]

    def __post_init__(self) -> None:
        _as_bytes(self.data, self._SIZE, self._WHAT)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.data.hex()[:16]}…)"

    def to_bytes(self) -> bytes:
        """The compressed encoding (96 bytes for a public key, 48 for a signature)."""
        return self.data

    @classmethod
    def from_bytes(cls, data: bytes, *, backend: Backend | str | None = None) -> Self:
        """Strictly decode a compressed point of the class's group (identity rejected)."""
        raw = _as_bytes(data, cls._SIZE, cls._WHAT)
        impl = resolve(backend)
        if cls._IN_G2:
            impl.g2_check(raw)
        else:
            impl.g1_check(raw)
        if raw == cls._IDENTITY:
            raise IdentityPointError(f"{cls._WHAT} is the point at infinity")
        return cls(raw)

    def to_eip2537(self, *, backend: Backend | str | None = None) -> bytes:
        """EIP-2537 encoding, each Fp in 64 bytes: 256 bytes ``x.c0 ‖ x.c1 ‖ y.c0 ‖ y.c1`` for a
        public key (G2), 128 bytes ``x ‖ y`` for a signature (G1)."""
        impl = resolve(backend)
        coords = impl.g2_affine(self.data) if self._IN_G2 else impl.g1_affine(self.data)
        return b"".join(fp_to_eip2537(c) for c in coords)


@dataclass(frozen=True, repr=False)
class PublicKey(_CompressedPoint):
    """A BLS public key: a G2 point, 96-byte compressed."""

    _SIZE = G2_COMPRESSED_SIZE
    _WHAT = "public key"
    _IDENTITY = G2_IDENTITY
    _IN_G2 = True


@dataclass(frozen=True, repr=False)
class Signature(_CompressedPoint):
    """A BLS signature (or any G1 point, e.g. a message hash): 48-byte compressed."""

    _SIZE = G1_COMPRESSED_SIZE
    _WHAT = "signature"
    _IDENTITY = G1_IDENTITY
    _IN_G2 = False
