"""The node's libp2p identity: an Ed25519 (default) or secp256k1 key pair.

Stored as the libp2p protobuf encoding of the private key (``KeyType`` + key bytes, the format
of go-libp2p's ``MarshalPrivateKey``). Keystore encryption is handled elsewhere: this module
turns bytes into a key pair and back, and can create an unencrypted key file for testnets.
Ed25519 and secp256k1 peer ids embed the public key, so anyone holding a peer id (from the
cluster lock) can verify a signature made with the identity key: that is what makes
envelope signatures (``oracle_node.p2p.wire``) portable evidence.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from libp2p.crypto.ed25519 import Ed25519PrivateKey
from libp2p.crypto.keys import KeyPair, KeyType, PrivateKey
from libp2p.crypto.secp256k1 import Secp256k1PrivateKey
from libp2p.crypto.serialization import deserialize_private_key
from libp2p.peer.id import ID

from oracle_node.errors import P2PError
from oracle_node.types import PeerIdStr

KeyKind = Literal["ed25519", "secp256k1"]


class IdentityError(P2PError):
    """Raised when identity key bytes or a key file cannot be parsed or are of a refused type."""


def generate_identity(kind: KeyKind = "ed25519") -> KeyPair:
    """A fresh random identity key pair."""
    private: PrivateKey
    if kind == "ed25519":
        private = Ed25519PrivateKey.new()
    elif kind == "secp256k1":
        private = Secp256k1PrivateKey.new()
    else:
        raise IdentityError(f"unsupported key type {kind!r}")
    return KeyPair(private, private.get_public_key())


def identity_to_bytes(key_pair: KeyPair) -> bytes:
    """The protobuf encoding of the private key (what :func:`identity_from_bytes` reads)."""
    return bytes(key_pair.private_key.serialize())


def identity_from_bytes(data: bytes) -> KeyPair:
    """Parse a protobuf-encoded Ed25519 or secp256k1 private key."""
    try:
        proto = PrivateKey.deserialize_from_protobuf(data)
        if proto.key_type == KeyType.Ed25519.value and len(proto.data) == 64:
            # go-libp2p stores seed ‖ public key; the seed alone defines the key
            private: PrivateKey = Ed25519PrivateKey.from_bytes(bytes(proto.data[:32]))
        elif proto.key_type in (KeyType.Ed25519.value, KeyType.Secp256k1.value):
            private = deserialize_private_key(data)
        else:
            raise IdentityError(f"refused key type {proto.key_type} (use Ed25519 or secp256k1)")
    except IdentityError:
        raise
    except Exception as err:  # protobuf and the key libraries raise assorted types
        raise IdentityError(f"unreadable identity key: {type(err).__name__}") from err
    return KeyPair(private, private.get_public_key())


def load_or_create_identity(path: Path, kind: KeyKind = "ed25519") -> KeyPair:
    """Read the key file at ``path``, or create it (mode 0600) with a fresh key."""
    if path.exists():
        return identity_from_bytes(path.read_bytes())
    key_pair = generate_identity(kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(identity_to_bytes(key_pair))
    return key_pair


def peer_id_of(key_pair: KeyPair) -> PeerIdStr:
    """The base58 peer id of an identity."""
    return PeerIdStr(ID.from_pubkey(key_pair.public_key).to_base58())


def sign_with_identity(key_pair: KeyPair, data: bytes) -> bytes:
    """Sign ``data`` with the identity key (used for envelope signatures)."""
    return bytes(key_pair.private_key.sign(data))


def verify_peer_signature(peer: PeerIdStr, data: bytes, signature: bytes) -> bool:
    """Verify a signature by the identity behind ``peer`` (public key taken from the id)."""
    try:
        public = ID.from_base58(peer).extract_public_key()
        return public is not None and bool(public.verify(data, signature))
    except Exception:  # a malformed id or signature is simply not a valid signature
        return False
