"""Threshold BLS: Shamir shares, partial signatures, Lagrange combination (arkworks backend)."""

from __future__ import annotations

import json
import random
from itertools import combinations
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus import bls
from consensus.errors import (
    DuplicateIndexError,
    IndexOutOfRangeError,
    NotEnoughSharesError,
    ThresholdError,
)
from consensus.threshold import (
    KeyShare,
    PartialSignature,
    PublicKeyShare,
    combine,
    combine_secret,
    partial_sign,
    public_share_from_commitments,
    trusted_dealer_split_for_tests,
    verify_partial,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "consensus" / "bls_min_sig.json"


@settings(max_examples=8, deadline=None)
@given(st.integers(1, 32).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))),
       st.binary(min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_any_t_subset_combines_and_t_minus_1_does_not(params: tuple[int, int], seed: bytes,
                                                       rnd: random.Random) -> None:
    t, n = params
    group_pk, shares, pub_shares = trusted_dealer_split_for_tests(t, n, seed)
    msg = b"block" + seed
    partials = [partial_sign(s, msg) for s in shares]
    for pub, part in zip(pub_shares, partials, strict=True):
        assert verify_partial(pub, msg, part)
    signatures = set()
    for _ in range(3):
        subset = rnd.sample(partials, t)
        sig = combine(subset, t, n=n)
        assert bls.verify(group_pk, msg, sig)
        signatures.add(sig)
    assert len(signatures) == 1
    if t > 1:
        short = rnd.sample(partials, t - 1)
        with pytest.raises(NotEnoughSharesError):
            combine(short, t, n=n)
        # interpolating t-1 partials as if the threshold were t-1 gives a wrong signature
        assert not bls.verify(group_pk, msg, combine(short, t - 1, n=n))


def test_every_subset_small_committee() -> None:
    group_pk, shares, _ = trusted_dealer_split_for_tests(3, 5, b"every")
    msg = b"m"
    partials = [partial_sign(s, msg) for s in shares]
    expected = combine(partials[:3], 3)
    for subset in combinations(partials, 3):
        assert combine(list(subset), 3) == expected
    assert bls.verify(group_pk, msg, expected)
    assert bls.public_key(combine_secret(shares[2:], 3)) == group_pk


def test_partial_with_wrong_index_is_rejected() -> None:
    _, shares, pub_shares = trusted_dealer_split_for_tests(2, 4, b"idx")
    msg = b"m"
    good = partial_sign(shares[0], msg)
    relabelled = PartialSignature(2, good.signature)
    assert verify_partial(pub_shares[0], msg, good)
    assert not verify_partial(pub_shares[1], msg, relabelled)
    assert not verify_partial(pub_shares[0], msg, relabelled)
    assert not verify_partial(pub_shares[0], b"other", good)


def test_combine_rejects_duplicates_and_out_of_range() -> None:
    _, shares, _ = trusted_dealer_split_for_tests(2, 3, b"dup")
    p1, p2, _p3 = (partial_sign(s, b"m") for s in shares)
    with pytest.raises(DuplicateIndexError):
        combine([p1, p1], 2)
    with pytest.raises(IndexOutOfRangeError):
        combine([p1, PartialSignature(4, p2.signature)], 2, n=3)
    with pytest.raises(IndexOutOfRangeError):
        PartialSignature(0, p1.signature)
    with pytest.raises(ThresholdError):
        combine([p1, p2], 0)
    with pytest.raises(ThresholdError):
        trusted_dealer_split_for_tests(4, 3, b"x")


def test_public_shares_from_commitments() -> None:
    coefficients = [bls.SecretKey(v) for v in (11, 22, 33)]
    commitments = [bls.public_key(c) for c in coefficients]
    for index in (1, 2, 7):
        expected = bls.public_key(bls.SecretKey(11 + 22 * index + 33 * index * index))
        assert public_share_from_commitments(commitments, index) == PublicKeyShare(index, expected)


def test_threshold_known_answers() -> None:
    case = json.loads(GOLDEN.read_text())["threshold"]
    group_pk, shares, pub_shares = trusted_dealer_split_for_tests(
        case["t"], case["n"], bytes.fromhex(case["seed"]))
    assert group_pk.to_bytes().hex() == case["group_pk"]
    assert [s.secret.to_bytes().hex() for s in shares] == case["shares"]
    assert [p.public_key.to_bytes().hex() for p in pub_shares] == case["pub_shares"]
    msg = bytes.fromhex(case["msg"])
    partials = [partial_sign(s, msg) for s in shares]
    assert [p.signature.to_bytes().hex() for p in partials] == case["partials"]
    assert combine(partials[:2], 2).to_bytes().hex() == case["combined_1_2"]


def test_threshold_cross_backend() -> None:
    _, shares, _ = trusted_dealer_split_for_tests(2, 3, b"cross")
    msg = b"cross"
    results = []
    for name in bls.BACKEND_NAMES:
        partials = [partial_sign(s, msg, backend=name) for s in shares[1:]]
        results.append(combine(partials, 2, backend=name))
    assert results[0] == results[1]


def test_key_share_repr_hides_secret() -> None:
    share = KeyShare(1, bls.SecretKey(12345))
    assert "12345" not in repr(share)
