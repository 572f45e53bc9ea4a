"""t-of-n threshold BLS: Shamir shares of one group key over the scalar field.

Member indices are ``1..n`` (the evaluation points of the sharing polynomial). A partial
signature is ``share * H(msg)``; any ``t`` valid partials combine by Lagrange interpolation at 0
into the group signature, which verifies under the group public key like any BLS signature.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from consensus.bls import CURVE_ORDER, Backend, PublicKey, SecretKey, Signature
from consensus.bls.registry import resolve
from consensus.bls.scheme import BackendArg, public_key, sign, verify
from consensus.errors import (
    DuplicateIndexError,
    IndexOutOfRangeError,
    NotEnoughSharesError,
    ThresholdError,
)

MAX_MEMBERS = 1024
"""Upper bound on committee size accepted anywhere (keeps adversarial inputs bounded)."""


def check_index(index: object, n: int | None = None) -> int:
    """Return ``index`` if it is an int in ``1..n`` (``1..MAX_MEMBERS`` without ``n``)."""
    upper = MAX_MEMBERS if n is None else n
    if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= upper:
        raise IndexOutOfRangeError(f"member index {index!r} outside 1..{upper}")
    return index


def check_parameters(threshold: int, n: int) -> None:
    """Raise ``ThresholdError`` unless ``1 <= threshold <= n <= MAX_MEMBERS``."""
    if isinstance(threshold, bool) or isinstance(n, bool) \
            or not isinstance(threshold, int) or not isinstance(n, int) \
            or not 1 <= threshold <= n <= MAX_MEMBERS:
        raise ThresholdError(f"need 1 <= t <= n <= {MAX_MEMBERS}, got t={threshold}, n={n}")


@dataclass(frozen=True, repr=False)
class KeyShare:
    """Member ``index``'s secret share of the group key."""

    index: int
    secret: SecretKey

    def __post_init__(self) -> None:
        check_index(self.index)

    def __repr__(self) -> str:
        return f"KeyShare(index={self.index}, secret=<redacted>)"


@dataclass(frozen=True)
class PublicKeyShare:
    """Member ``index``'s public key share ``share * G2``."""

    index: int
    public_key: PublicKey

    def __post_init__(self) -> None:
        check_index(self.index)


@dataclass(frozen=True)
class PartialSignature:
    """Member ``index``'s signature share on a message."""

    index: int
    signature: Signature

    def __post_init__(self) -> None:
        check_index(self.index)


def lagrange_at_zero(indices: Sequence[int]) -> list[int]:
    """Lagrange coefficients ``l_i(0)`` for distinct non-zero ``indices`` (mod r)."""
    coefficients = []
    for i in indices:
        num, den = 1, 1
        for j in indices:
            if j != i:
                num = num * j % CURVE_ORDER
                den = den * (j - i) % CURVE_ORDER
        coefficients.append(num * pow(den, -1, CURVE_ORDER) % CURVE_ORDER)
    return coefficients


def eval_polynomial(coefficients: Sequence[int], x: int) -> int:
    """Horner evaluation of ``sum c_k x^k`` mod r."""
    acc = 0
    for c in reversed(coefficients):
        acc = (acc * x + c) % CURVE_ORDER
    return acc


def partial_sign(share: KeyShare, msg: bytes, *, backend: BackendArg = None) -> PartialSignature:
    """Sign ``msg`` with a key share."""
    return PartialSignature(share.index, sign(share.secret, msg, backend=backend))


def verify_partial(pub_share: PublicKeyShare, msg: bytes, partial: PartialSignature, *,
                   backend: BackendArg = None) -> bool:
    """Whether ``partial`` is ``pub_share``'s valid share on ``msg`` (indices must match)."""
    if partial.index != pub_share.index:
        return False
    return verify(pub_share.public_key, msg, partial.signature, backend=backend)


def _distinct_indices(indices: Iterable[int], n: int | None) -> list[int]:
    seen: set[int] = set()
    out = []
    for index in indices:
        check_index(index, n)
        if index in seen:
            raise DuplicateIndexError(f"member index {index} appears twice")
        seen.add(index)
        out.append(index)
    return out


def combine(partials: Sequence[PartialSignature], threshold: int, *, n: int | None = None,
            backend: BackendArg = None) -> Signature:
    """Lagrange-combine the first ``threshold`` of ``partials`` into the group signature.

    Raises ``DuplicateIndexError``, ``IndexOutOfRangeError`` (index outside ``1..n``) or
    ``NotEnoughSharesError``. Partials must have been verified (:func:`verify_partial`) first:
    one bad partial yields a group signature that does not verify.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise ThresholdError(f"threshold must be a positive int, got {threshold!r}")
    indices = _distinct_indices((p.index for p in partials), n)
    if len(indices) < threshold:
        raise NotEnoughSharesError(f"need {threshold} partial signatures, got {len(indices)}")
    chosen = list(partials[:threshold])
    coefficients = lagrange_at_zero([p.index for p in chosen])
    return Signature(resolve(backend).g1_lincomb([p.signature.data for p in chosen], coefficients))


def combine_secret(shares: Sequence[KeyShare], threshold: int) -> SecretKey:
    """Interpolate the group secret from ``threshold`` shares (tests and recovery only)."""
    indices = _distinct_indices((s.index for s in shares), None)
    if len(indices) < threshold:
        raise NotEnoughSharesError(f"need {threshold} shares, got {len(indices)}")
    chosen = shares[:threshold]
    coefficients = lagrange_at_zero([s.index for s in chosen])
    return SecretKey(sum(c * s.secret.value for c, s in zip(coefficients, chosen, strict=True))
                     % CURVE_ORDER)


def public_share_from_commitments(commitments: Sequence[PublicKey], index: int, *,
                                  backend: BackendArg = None) -> PublicKeyShare:
    """Member ``index``'s public share from Feldman commitments ``C_k = a_k * G2``.

    ``pub_index = sum_k index^k * C_k``; ``commitments[0]`` is the group public key.
    """
    check_index(index)
    if not commitments:
        raise ThresholdError("no commitments")
    impl = resolve(backend)
    return PublicKeyShare(index, PublicKey(_evaluate_commitments(
        impl, tuple(c.data for c in commitments), index)))


@lru_cache(maxsize=4096)
def _evaluate_commitments(impl: Backend, commitments: tuple[bytes, ...], index: int) -> bytes:
    # pure function of its inputs; every member of a committee evaluates the same commitments
    powers = [pow(index, k, CURVE_ORDER) for k in range(len(commitments))]
    return impl.g2_lincomb(list(commitments), powers)


def _seeded_scalar(seed: bytes, label: bytes, k: int) -> int:
    while True:
        digest = hashlib.sha512(b"trusted-dealer/" + label + k.to_bytes(4, "big") + seed).digest()
        value = int.from_bytes(digest, "big") % CURVE_ORDER
        if value:
            return value
        k += 1 << 20


def trusted_dealer_split_for_tests(t: int, n: int, seed: bytes, *, backend: BackendArg = None,
                                   ) -> tuple[PublicKey, list[KeyShare], list[PublicKeyShare]]:
    """Deterministically deal a t-of-n key from ``seed``. NOT for production: one party knows
    the whole key. Returns ``(group_pk, shares, pub_shares)`` ordered by index ``1..n``."""
    check_parameters(t, n)
    coefficients = [_seeded_scalar(bytes(seed), b"coef", k) for k in range(t)]
    values = [eval_polynomial(coefficients, i) for i in range(1, n + 1)]
    if 0 in values:
        raise ThresholdError("degenerate seed: a share is zero")  # probability ~ n / 2^255
    shares = [KeyShare(i, SecretKey(v)) for i, v in enumerate(values, start=1)]
    group_pk = public_key(SecretKey(coefficients[0]), backend=backend)
    pub_shares = [PublicKeyShare(s.index, public_key(s.secret, backend=backend)) for s in shares]
    return group_pk, shares, pub_shares
