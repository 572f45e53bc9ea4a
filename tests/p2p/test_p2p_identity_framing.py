"""Identity key files and request/response frames."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from libp2p.crypto.pb import crypto_pb2

from oracle_node.multiaddr import MultiaddrError, parse_tcp_multiaddr
from oracle_node.p2p import framing
from oracle_node.p2p.identity import (
    IdentityError,
    generate_identity,
    identity_from_bytes,
    identity_to_bytes,
    load_or_create_identity,
    peer_id_of,
)


@pytest.mark.parametrize("kind", ["ed25519", "secp256k1"])
def test_identity_round_trip(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "keys" / "node.key"
    created = load_or_create_identity(path, kind)  # type: ignore[arg-type]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_or_create_identity(path)
    assert peer_id_of(loaded) == peer_id_of(created)
    assert identity_to_bytes(identity_from_bytes(identity_to_bytes(created))) == \
        identity_to_bytes(created)


def test_go_libp2p_ed25519_layout_is_accepted() -> None:
    identity = generate_identity()
    proto = crypto_pb2.PrivateKey()
    proto.ParseFromString(identity_to_bytes(identity))
    proto.data = proto.data[:32] + identity.public_key.to_bytes()  # seed ‖ public key
    assert peer_id_of(identity_from_bytes(proto.SerializeToString())) == peer_id_of(identity)


@pytest.mark.parametrize("data", [b"", b"\xff\xff\xff", b"\x08\x00\x12\x03abc"])
def test_bad_identity_bytes(data: bytes) -> None:
    with pytest.raises(IdentityError):
        identity_from_bytes(data)


def test_rsa_identity_is_refused() -> None:
    proto = crypto_pb2.PrivateKey()
    proto.key_type = crypto_pb2.RSA
    proto.data = b"\x00" * 64
    with pytest.raises(IdentityError, match="refused key type"):
        identity_from_bytes(proto.SerializeToString())


def _reader(data: bytes, chunk: int = 3) -> framing.ReadSome:
    buffer = bytearray(data)

    async def read(n: int) -> bytes:
        take = bytes(buffer[:min(n, chunk)])
        del buffer[:len(take)]
        return take

    return read


async def test_frames_round_trip_in_small_chunks() -> None:
    assert await framing.read_request(_reader(framing.encode_request(b"hello")), 10) == b"hello"
    status, payload = await framing.read_response(
        _reader(framing.encode_response(framing.Status.NO_HANDLER, b"why")), 10)
    assert (status, payload) == (framing.Status.NO_HANDLER, b"why")


async def test_frame_limits_and_truncation() -> None:
    with pytest.raises(framing.FrameError, match="exceeds"):
        await framing.read_request(_reader(framing.encode_request(b"x" * 11)), 10)
    with pytest.raises(framing.FrameError, match="short"):
        await framing.read_request(_reader(framing.encode_request(b"hello")[:-1]), 10)
    with pytest.raises(framing.FrameError, match="status"):
        await framing.read_response(_reader(b"\x09\x00\x00\x00\x00"), 10)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
async def test_fuzz_response_reader(data: bytes) -> None:
    try:
        await framing.read_response(_reader(data), 32)
    except framing.FrameError:
        pass


@pytest.mark.parametrize("text", ["/ip4/127.0.0.1/tcp/9000\n", "/ip4/127.0.0.1/tcp/\u0669\u0660",
                                  "/ip4/127.0.0.1 /tcp/9000", "/ip4/127.0.0.1/tcp/9000/p2p/\u00e9"])
def test_multiaddr_parser_refuses_whitespace_and_non_ascii(text: str) -> None:
    with pytest.raises(MultiaddrError):
        parse_tcp_multiaddr(text)
    assert parse_tcp_multiaddr("/ip4/127.0.0.1/tcp/9000").base == "/ip4/127.0.0.1/tcp/9000"
