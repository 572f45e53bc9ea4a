"""Wire format: golden encodings, strict typed rejections, fuzzing, envelope signatures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from libp2p.crypto.ed25519 import Ed25519PrivateKey
from libp2p.crypto.keys import KeyPair

from oracle_node.p2p import errors, wire
from oracle_node.p2p.identity import (
    generate_identity,
    peer_id_of,
    sign_with_identity,
    verify_peer_signature,
)
from oracle_node.pipeline.messages import PartialSigned
from oracle_node.types import BlockNumber, Epoch, MemberIndex

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "wire"
FIXED_KEY = Ed25519PrivateKey.from_bytes(bytes(range(32)))
FIXED_IDENTITY = KeyPair(FIXED_KEY, FIXED_KEY.get_public_key())


def _samples() -> dict[str, wire.WireMessage]:
    ceremony = wire.CeremonyMessage(MemberIndex(2), b"\x11" * 32, "deal", b"payload-bytes")
    return {
        "partial": wire.PartialMessage(MemberIndex(3), BlockNumber(42), bytes(range(32)),
                                       Epoch(1), bytes(range(100, 148))),
        "want_partials": wire.WantPartials(MemberIndex(1), BlockNumber(42), Epoch(1),
                                           wire.members_bitmap({1, 3, 9})),
        "ceremony": wire.sign_ceremony(
            ceremony, lambda data: sign_with_identity(FIXED_IDENTITY, data)),
    }


@pytest.mark.parametrize("name", ["partial", "want_partials", "ceremony"])
def test_golden_encodings(name: str) -> None:
    msg = _samples()[name]
    encoded = wire.encode(msg)
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps({"hex": encoded.hex(),
                                    "diagnostic": repr(cbor2.loads(encoded))}, indent=2) + "\n")
    golden = json.loads(path.read_text())
    assert encoded.hex() == golden["hex"]
    assert wire.decode(bytes.fromhex(golden["hex"])) == msg


def test_partial_fact_round_trip() -> None:
    fact = PartialSigned(BlockNumber(7), b"\x01" * 32, Epoch(2), MemberIndex(5), b"\x02" * 48)
    msg = wire.PartialMessage.from_fact(fact)
    decoded = wire.decode(wire.encode(msg))
    assert isinstance(decoded, wire.PartialMessage)
    assert decoded.to_fact() == fact


def test_bitmap() -> None:
    bitmap = wire.members_bitmap({1, 8, 9})
    assert bitmap == bytes([0b1000_0001, 0b0000_0001])
    want = wire.WantPartials(MemberIndex(1), BlockNumber(1), Epoch(1), bitmap)
    assert [m for m in range(1, 17) if want.has(m)] == [1, 8, 9]
    assert wire.members_bitmap(set()) == b""
    with pytest.raises(ValueError):
        wire.members_bitmap({0})


def test_ceremony_signature_is_portable_evidence() -> None:
    identity = generate_identity()
    peer = peer_id_of(identity)
    msg = wire.sign_ceremony(wire.CeremonyMessage(MemberIndex(4), b"c1", "complaint", b"x"),
                             lambda data: sign_with_identity(identity, data))
    # A third party holding only the bytes and the peer id (from the cluster lock) verifies it.
    received = wire.decode(wire.encode(msg))
    assert isinstance(received, wire.CeremonyMessage)
    assert wire.verify_ceremony(received, lambda d, s: verify_peer_signature(peer, d, s))
    other = peer_id_of(generate_identity())
    assert not wire.verify_ceremony(received, lambda d, s: verify_peer_signature(other, d, s))
    tampered = wire.CeremonyMessage(received.sender, received.ceremony_id, received.phase,
                                    b"y", received.sig)
    assert not wire.verify_ceremony(tampered, lambda d, s: verify_peer_signature(peer, d, s))
    unsigned = wire.CeremonyMessage(MemberIndex(4), b"c1", "complaint", b"x")
    assert not wire.verify_ceremony(unsigned, lambda d, s: True)


def test_secp256k1_identity_signs_too() -> None:
    identity = generate_identity("secp256k1")
    peer = peer_id_of(identity)
    assert verify_peer_signature(peer, b"data", sign_with_identity(identity, b"data"))
    assert not verify_peer_signature(peer, b"other", sign_with_identity(identity, b"data"))


def _env(**over: object) -> dict[str, object]:
    env: dict[str, object] = {"v": 1, "t": "partial", "from": 3, "body": {
        "block_number": 42, "final_root": b"\x00" * 32, "epoch": 1, "member": 3,
        "signature": b"\x01" * 48}}
    env.update(over)
    return env


def _body(**over: object) -> dict[str, object]:
    body: dict[str, object] = {"block_number": 42, "final_root": b"\x00" * 32, "epoch": 1,
                               "member": 3, "signature": b"\x01" * 48}
    body.update(over)
    return body


@pytest.mark.parametrize(("obj", "error"), [
    (_env(v=2), errors.UnknownVersion),
    (_env(v="1"), errors.UnknownVersion),
    (_env(t="vote"), errors.UnknownType),
    (_env(sig=b""), errors.ExtraField),
    ({"v": 1, "t": "partial", "body": _body()}, errors.MissingField),
    ({"t": "partial"}, errors.MissingField),
    (_env(body=_body(extra=1)), errors.ExtraField),
    (_env(body={k: v for k, v in _body().items() if k != "epoch"}), errors.MissingField),
    (_env(body=_body(epoch=True)), errors.WrongFieldType),
    (_env(body=_body(epoch=0)), errors.WrongFieldType),
    (_env(body=_body(block_number=-1)), errors.WrongFieldType),
    (_env(body=_body(block_number=2**64)), errors.WrongFieldType),
    (_env(body=_body(final_root=b"\x00" * 31)), errors.WrongFieldType),
    (_env(body=_body(signature="sig")), errors.WrongFieldType),
    (_env(body=_body(member=4)), errors.InvalidFieldValue),
    (_env(**{"from": 0}), errors.WrongFieldType),
    (_env(body=[1, 2]), errors.WrongFieldType),
    ([1, 2, 3], errors.WrongFieldType),
    ({1: 2}, errors.WrongFieldType),
    ({"v": 1, "t": "ceremony", "from": 1, "body": {"ceremony_id": b"", "phase": "p",
                                                    "payload": b""}, "sig": b""},
     errors.WrongFieldType),
    ({"v": 1, "t": "ceremony", "from": 1, "body": {"ceremony_id": b"i", "phase": "p\n",
                                                    "payload": b""}, "sig": b""},
     errors.WrongFieldType),
    ({"v": 1, "t": "ceremony", "from": 1, "body": {"ceremony_id": b"i", "phase": "p",
                                                    "payload": b""}},
     errors.MissingField),
])
def test_strict_schema(obj: object, error: type[errors.WireError]) -> None:
    with pytest.raises(error) as caught:
        wire.decode(cbor2.dumps(obj, canonical=True))
    assert caught.value.reason == error.reason


def test_not_canonical_and_malformed() -> None:
    good = wire.encode(_samples()["partial"])
    non_canonical = cbor2.dumps(_env(), canonical=False)  # insertion-ordered keys
    assert non_canonical != good
    with pytest.raises(errors.NotCanonical):
        wire.decode(non_canonical)
    with pytest.raises(errors.NotCanonical):
        wire.decode(good + b"\x00")  # trailing bytes
    with pytest.raises(errors.MalformedCbor):
        wire.decode(good[:-5])
    with pytest.raises(errors.MalformedCbor):
        wire.decode(b"")
    with pytest.raises(errors.MessageTooLarge):
        wire.decode(b"\x00" * (wire.MAX_MESSAGE_BYTES + 1))
    big = wire.CeremonyMessage(MemberIndex(1), b"i", "p", b"\x00" * wire.MAX_MESSAGE_BYTES)
    with pytest.raises(errors.MessageTooLarge):
        wire.encode(big)


_FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(st.binary(max_size=512))
def test_fuzz_random_bytes(data: bytes) -> None:
    try:
        wire.decode(data)
    except errors.WireError:
        pass


@_FUZZ
@given(st.sampled_from(["partial", "want_partials", "ceremony"]), st.data())
def test_fuzz_truncated_and_mutated(name: str, data: st.DataObject) -> None:
    encoded = wire.encode(_samples()[name])
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(errors.WireError):
        wire.decode(encoded[:cut])
    position = data.draw(st.integers(0, len(encoded) - 1))
    value = data.draw(st.integers(0, 255))
    mutated = encoded[:position] + bytes([value]) + encoded[position + 1:]
    try:
        decoded = wire.decode(mutated)
    except errors.WireError:
        return
    assert wire.encode(decoded) == mutated  # anything accepted is canonical


_cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.binary(max_size=64)
    | st.text(max_size=16) | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12)


@_FUZZ
@given(st.sampled_from(["v", "t", "from", "body", "sig", "extra"]), _cbor_values)
def test_fuzz_wrong_field_values(field: str, value: object) -> None:
    env = _env(**{field: value})
    try:
        decoded = wire.decode(cbor2.dumps(env, canonical=True))
    except errors.WireError:
        return
    assert isinstance(decoded, wire.PartialMessage)


@_FUZZ
@given(st.sampled_from(["block_number", "final_root", "epoch", "member", "signature"]),
       _cbor_values)
def test_fuzz_wrong_body_values(field: str, value: object) -> None:
    try:
        wire.decode(cbor2.dumps(_env(body=_body(**{field: value})), canonical=True))
    except errors.WireError:
        return
