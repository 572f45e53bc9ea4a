"""BLS min-sig: RFC 9380 vectors, known answers, cross-backend identity, strict decoding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus import bls
from consensus.errors import (
    EncodingError,
    IdentityPointError,
    InvalidLengthError,
    InvalidScalarError,
    NotInSubgroupError,
    NotOnCurveError,
    UnknownBackendError,
)


def load_golden(name: str) -> Any:
    """Load one JSON golden file of the consensus area."""
    return json.loads((Path(__file__).resolve().parents[1] / "golden" / "consensus" / name)
                      .read_text())


RFC = load_golden("hash_to_curve_rfc9380_g1.json")
KAT = load_golden("bls_min_sig.json")





def test_hash_to_field_matches_rfc_vectors() -> None:
    dst = RFC["dst"].encode()
    for vector in RFC["vectors"]:
        assert bls.hash_to_field_g1(vector["msg"].encode(), dst) == (
            int(vector["u0"], 16), int(vector["u1"], 16))


@pytest.mark.parametrize("name", ["arkworks", "py_ecc"])
def test_hash_to_curve_matches_rfc_vectors(name: str) -> None:
    dst = RFC["dst"].encode()
    vectors = RFC["vectors"] if name == "arkworks" else RFC["vectors"][:2]
    for vector in vectors:
        point = bls.hash_to_g1(vector["msg"].encode(), dst=dst, backend=name)
        encoded = point.to_eip2537(backend=name)
        assert encoded[16:64].hex() == vector["P_x"]
        assert encoded[80:128].hex() == vector["P_y"]
        assert encoded[:16] == bytes(16)
        assert encoded[64:80] == bytes(16)


def test_known_answers_both_backends(backend_name: str) -> None:
    case = KAT["keys"][1]
    sk = bls.keygen(bytes.fromhex(case["ikm"]))
    assert sk.to_bytes().hex() == case["sk"]
    pk = bls.public_key(sk, backend=backend_name)
    sig = bls.sign(sk, bytes.fromhex(case["msg"]), backend=backend_name)
    assert pk.to_bytes().hex() == case["pk"]
    assert sig.to_bytes().hex() == case["sig"]
    assert pk.to_eip2537(backend=backend_name).hex() == case["pk_eip2537"]
    assert sig.to_eip2537(backend=backend_name).hex() == case["sig_eip2537"]
    assert bls.pop_prove(sk, backend=backend_name).to_bytes().hex() == case["pop"]
    assert bls.verify(pk, bytes.fromhex(case["msg"]), sig, backend=backend_name)


def test_arkworks_reproduces_all_known_answers() -> None:
    for case in KAT["keys"]:
        sk = bls.SecretKey.from_bytes(bytes.fromhex(case["sk"]))
        pk = bls.public_key(sk)
        msg = bytes.fromhex(case["msg"])
        assert pk.to_bytes().hex() == case["pk"]
        assert bls.sign(sk, msg).to_bytes().hex() == case["sig"]
        assert bls.verify(pk, msg, bls.Signature(bytes.fromhex(case["sig"])))
        assert bls.pop_verify(pk, bls.Signature(bytes.fromhex(case["pop"])))
        assert not bls.verify(pk, msg + b"x", bls.Signature(bytes.fromhex(case["sig"])))


def test_keygen_matches_py_ecc_reference() -> None:
    from py_ecc.bls.ciphersuites import G2ProofOfPossession

    ikm = bytes(range(40))
    assert bls.keygen(ikm).value == G2ProofOfPossession.KeyGen(ikm)


def test_backends_agree_on_aggregates_and_verification() -> None:
    sks = [bls.keygen(bytes([i]) * 32) for i in (1, 2)]
    msg = b"aggregate"
    out = {}
    for name in bls.BACKEND_NAMES:
        sigs = [bls.sign(sk, msg, backend=name) for sk in sks]
        pks = [bls.public_key(sk, backend=name) for sk in sks]
        agg_sig = bls.aggregate_signatures(sigs, backend=name)
        agg_pk = bls.aggregate_public_keys(pks, backend=name)
        assert bls.verify(agg_pk, msg, agg_sig, backend=name)
        out[name] = (agg_sig, agg_pk)
    assert out["arkworks"] == out["py_ecc"]


def test_pop_rejects_other_key() -> None:
    sk1, sk2 = bls.keygen(b"\x01" * 32), bls.keygen(b"\x02" * 32)
    assert not bls.pop_verify(bls.public_key(sk2), bls.pop_prove(sk1))
    # a plain signature on the key bytes is not a proof of possession (different DST)
    pk1 = bls.public_key(sk1)
    assert not bls.pop_verify(pk1, bls.sign(sk1, pk1.to_bytes()))


def test_batch_verify_detects_one_bad_signature() -> None:
    msg = b"batch"
    sks = [bls.keygen(bytes([i]) * 32) for i in range(1, 6)]
    pairs = [(bls.public_key(sk), bls.sign(sk, msg)) for sk in sks]
    assert bls.batch_verify_same_message(pairs, msg)
    pairs[2] = (pairs[2][0], bls.sign(sks[3], msg))
    assert not bls.batch_verify_same_message(pairs, msg)


def _g1_with_x(x: int) -> bytes:
    return bytes([0x80]) + x.to_bytes(47, "big")


BAD_SIGNATURES = [
    (b"", InvalidLengthError),
    (bytes(47), InvalidLengthError),
    (bytes(49), InvalidLengthError),
    (bytes(48), NotOnCurveError),                      # compression flag missing
    (b"\xc0" + bytes(47), IdentityPointError),
    (b"\xe0" + bytes(47), NotOnCurveError),            # infinity with sign bit
    (b"\xc0" + bytes(46) + b"\x01", NotOnCurveError),  # infinity with garbage
    (b"\x9f" + b"\xff" * 47, NotOnCurveError),         # x >= p
    (_g1_with_x(1), NotOnCurveError),                  # 1 + 4 is not a square mod p
    (_g1_with_x(4), NotInSubgroupError),               # on E1, outside the r-torsion
    (_g1_with_x(0), EncodingError),
]


@pytest.mark.parametrize(("data", "error"), BAD_SIGNATURES)
def test_strict_signature_decoding(data: bytes, error: type[Exception], backend_name: str) -> None:
    with pytest.raises(error):
        bls.Signature.from_bytes(data, backend=backend_name)


def test_strict_public_key_decoding(backend_name: str) -> None:
    good = bytes.fromhex(KAT["keys"][0]["pk"])
    assert bls.PublicKey.from_bytes(good, backend=backend_name).to_bytes() == good
    with pytest.raises(InvalidLengthError):
        bls.PublicKey.from_bytes(good[:95], backend=backend_name)
    with pytest.raises(IdentityPointError):
        bls.PublicKey.from_bytes(b"\xc0" + bytes(95), backend=backend_name)
    with pytest.raises(NotOnCurveError):
        bls.PublicKey.from_bytes(b"\x9f" + b"\xff" * 95, backend=backend_name)
    with pytest.raises(NotOnCurveError):  # x = 1 (in Fp2 as c1 ‖ c0): x^3 + 4(u+1) no square
        bls.PublicKey.from_bytes(b"\x80" + bytes(94) + b"\x01", backend=backend_name)
    with pytest.raises(NotInSubgroupError):  # x = 2: on the twist, outside the r-torsion
        bls.PublicKey.from_bytes(b"\x80" + bytes(94) + b"\x02", backend=backend_name)
    flipped = bls.PublicKey.from_bytes(bytes([good[0] ^ 0x20]) + good[1:], backend=backend_name)
    assert flipped != bls.PublicKey(good)  # the sign bit selects -pk, a different valid key


def test_secret_key_range() -> None:
    with pytest.raises(InvalidScalarError):
        bls.SecretKey.from_bytes(bytes(32))
    with pytest.raises(InvalidScalarError):
        bls.SecretKey.from_bytes(bls.CURVE_ORDER.to_bytes(32, "big"))
    with pytest.raises(InvalidLengthError):
        bls.SecretKey.from_bytes(bytes(31))
    assert "redacted" in repr(bls.keygen(b"\x05" * 32))


def test_unknown_backend() -> None:
    with pytest.raises(UnknownBackendError):
        bls.get_backend("blst")


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=0, max_size=100))
def test_random_bytes_never_crash_the_decoders(data: bytes) -> None:
    for decode in (bls.Signature.from_bytes, bls.PublicKey.from_bytes):
        try:
            decode(data)
        except EncodingError:
            pass


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=48, max_size=48))
def test_random_48_bytes_with_flag_decode_or_fail_typed(data: bytes) -> None:
    raw = bytes([data[0] | 0x80]) + data[1:]
    try:
        sig = bls.Signature.from_bytes(raw)
    except EncodingError:
        return
    assert sig.to_bytes() == raw
