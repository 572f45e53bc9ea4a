"""The cluster definition (input of a DKG) and each member's ceremony key.

A definition names the members (index, libp2p peer id, multiaddr, G1 share-encryption key),
the threshold, the network id and the chains; its SHA-256 over canonical CBOR is the
ceremony id, so every member runs the same ceremony or none. Format: docs/ceremony.md.

A member's **ceremony key** is derived from its libp2p identity key (no extra key file):
``s = KeyGen(sha256("zklink-oracle/ceremony-key/v1" ‖ identity private key))``. Its G1 public
``s·G1`` is the share-encryption key of the definition; its G2 public ``s·G2`` with a proof of
possession is the member key a governance proposal (``SignerSetProposed``) lists, and the two
are tied by ``e(s·G1, G2) = e(G1, s·G2)``, which anyone can check.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from libp2p.crypto.keys import KeyPair

from consensus import bls
from consensus.bls import PublicKey, SecretKey
from consensus.bls.registry import resolve
from consensus.dkg import EncryptionKeyPair, Member
from consensus.errors import ConsensusError
from consensus.lock import content_hash, json_with_hash
from consensus.threshold import check_parameters
from oracle_node.ceremony.errors import DefinitionError
from oracle_node.p2p.identity import identity_to_bytes, peer_id_of
from oracle_node.types import PeerIdStr

DEFINITION_VERSION = 1
CEREMONY_KEY_TAG = b"zklink-oracle/ceremony-key/v1"


def ceremony_secret(identity: KeyPair) -> SecretKey:
    """This member's ceremony key, derived from its libp2p identity key."""
    return bls.keygen(hashlib.sha256(CEREMONY_KEY_TAG + identity_to_bytes(identity)).digest())


def encryption_keys(secret: SecretKey) -> EncryptionKeyPair:
    """The share-encryption key pair ``(s, s·G1)`` of a ceremony key."""
    return EncryptionKeyPair(secret.value, resolve(None).g1_generator_mul(secret.value))


def encryption_key_matches(encryption_key: bytes, member_key: PublicKey) -> bool:
    """Whether G1 ``encryption_key`` and G2 ``member_key`` share one secret (a pairing check)."""
    impl = resolve(None)
    try:
        impl.g1_check(encryption_key)
    except ConsensusError:
        return False
    minus_g1 = impl.g1_generator_mul(bls.CURVE_ORDER - 1)
    return impl.pairing_product_is_one([(encryption_key, impl.g2_generator_mul(1)),
                                        (minus_g1, member_key.to_bytes())])


def state_key(identity: KeyPair, ceremony_id: bytes) -> bytes:
    """The 32-byte key sealing this member's persisted state of one ceremony."""
    return hashlib.sha256(b"zklink-oracle/ceremony-state/v1" + ceremony_id
                          + identity_to_bytes(identity)).digest()


@dataclass(frozen=True)
class DefinitionMember:
    """One member of a definition."""

    index: int
    peer_id: PeerIdStr
    multiaddr: str
    encryption_key: bytes


@dataclass(frozen=True)
class ClusterDefinition:
    """Everything the members must agree on before a DKG."""

    name: str
    network_id: int
    threshold: int
    members: tuple[DefinitionMember, ...]
    chains: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        try:
            check_parameters(self.threshold, len(self.members))
        except ConsensusError as err:
            raise DefinitionError(f"threshold: {err}") from err
        if [m.index for m in self.members] != list(range(1, len(self.members) + 1)):
            raise DefinitionError("members: indices must be 1..n in order")
        if len({m.peer_id for m in self.members}) != len(self.members):
            raise DefinitionError("members: duplicate peer id")
        for member in self.members:
            if len(member.encryption_key) != 48:
                raise DefinitionError(f"members[{member.index}].encryption_key: expected 48 "
                                      "bytes (compressed G1)")
            if not member.multiaddr.startswith("/"):
                raise DefinitionError(f"members[{member.index}].multiaddr: expected a multiaddr")

    def content(self) -> dict[str, Any]:
        """The JSON/CBOR form without the hash (bytes as 0x-hex)."""
        return {
            "version": DEFINITION_VERSION, "name": self.name, "network_id": self.network_id,
            "threshold": self.threshold, "chains": [dict(c) for c in self.chains],
            "members": [{"index": m.index, "peer_id": m.peer_id, "multiaddr": m.multiaddr,
                         "encryption_key": "0x" + m.encryption_key.hex()}
                        for m in self.members]}

    def ceremony_id(self) -> bytes:
        """SHA-256 of the canonical CBOR content: the DKG's ceremony id and the file's hash."""
        return content_hash(self.content())

    def to_json(self) -> str:
        """The definition file text (content + ``definition_hash``)."""
        return json_with_hash(self.content(), "definition_hash")

    def dkg_members(self) -> list[Member]:
        """The ceremony's recipients."""
        return [Member(m.index, m.encryption_key) for m in self.members]

    def member_of(self, peer: PeerIdStr) -> DefinitionMember:
        """The member entry of ``peer``; ``DefinitionError`` if it is not a member."""
        for member in self.members:
            if member.peer_id == peer:
                return member
        raise DefinitionError(f"peer {peer} is not a member of definition {self.name!r}")

    @classmethod
    def from_json(cls, text: str) -> ClusterDefinition:
        """Strictly parse a definition file; a present ``definition_hash`` must match."""
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict):
                raise DefinitionError("expected a JSON object")
            claimed = doc.pop("definition_hash", None)
            if doc.get("version") != DEFINITION_VERSION:
                raise DefinitionError(f"version: expected {DEFINITION_VERSION}")
            expected = {"version", "name", "network_id", "threshold", "chains", "members"}
            if set(doc) != expected:
                raise DefinitionError(
                    f"unexpected or missing fields: {sorted(set(doc) ^ expected)}")
            members = []
            for i, m in enumerate(doc["members"]):
                key = m["encryption_key"]
                if not isinstance(key, str) or not key.startswith("0x"):
                    raise DefinitionError(f"members[{i}].encryption_key: expected 0x-hex")
                members.append(DefinitionMember(int(m["index"]), PeerIdStr(str(m["peer_id"])),
                                                str(m["multiaddr"]), bytes.fromhex(key[2:])))
            chains = doc["chains"]
            if not isinstance(chains, list) or not all(isinstance(c, dict) for c in chains):
                raise DefinitionError("chains: expected a list of objects")
            definition = cls(str(doc["name"]), int(doc["network_id"]), int(doc["threshold"]),
                             tuple(members), tuple(chains))
        except DefinitionError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise DefinitionError(f"malformed definition: {type(err).__name__}: {err}") from err
        if claimed is not None and claimed != "0x" + definition.ceremony_id().hex():
            raise DefinitionError("definition_hash does not match the content")
        return definition

    @classmethod
    def load(cls, path: Path) -> ClusterDefinition:
        """Read and parse a definition file."""
        try:
            return cls.from_json(path.read_text())
        except OSError as err:
            raise DefinitionError(f"cannot read {path}: {err.strerror}") from err
        except UnicodeDecodeError as err:
            raise DefinitionError(f"cannot read {path}: not UTF-8 text") from err


def member_entry(identity: KeyPair, index: int, multiaddr: str) -> DefinitionMember:
    """The definition entry of the member with ``identity`` (what an operator hands over)."""
    keys = encryption_keys(ceremony_secret(identity))
    return DefinitionMember(index, peer_id_of(identity), multiaddr, keys.public)
