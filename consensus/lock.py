"""The cluster lock: the committee's public outcome of a DKG or reshare, with a canonical hash.

Nodes load the lock at start and refuse to run on any mismatch (hash, their own share, the
group key configured on chain). The hash is SHA-256 over the canonical CBOR of the content
(everything but the hash), so it does not depend on JSON formatting.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2

from consensus.bls import PublicKey, public_key
from consensus.dkg.config import DkgResult
from consensus.errors import ClusterLockError, ConsensusError
from consensus.threshold import (
    KeyShare,
    PublicKeyShare,
    check_parameters,
    public_share_from_commitments,
)

LOCK_VERSION = 1


def content_hash(content: Mapping[str, Any]) -> bytes:
    """SHA-256 of the canonical CBOR encoding of a JSON-able ``content`` dict (the hash of a
    lock or a cluster definition: independent of JSON formatting)."""
    return hashlib.sha256(cbor2.dumps(content, canonical=True)).digest()


def json_with_hash(content: Mapping[str, Any], key: str) -> str:
    """The file text of ``content`` plus ``key: 0x-hex(content_hash(content))``."""
    doc = {**content, key: "0x" + content_hash(content).hex()}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class LockMember:
    """A committee member: index, a human/peer name and its G1 share-encryption key."""

    index: int
    name: str
    encryption_key: bytes


@dataclass(frozen=True)
class ClusterLock:
    """Members, threshold, group key, Feldman commitments, public key shares and epoch."""

    name: str
    epoch: int
    threshold: int
    members: tuple[LockMember, ...]
    group_public_key: PublicKey
    commitments: tuple[PublicKey, ...]
    public_shares: tuple[PublicKeyShare, ...]

    @classmethod
    def from_dkg(cls, result: DkgResult, *, name: str, epoch: int,
                 members: list[LockMember]) -> ClusterLock:
        """Build the lock from a finished ceremony's result."""
        return cls(name, epoch, result.threshold, tuple(sorted(members, key=lambda m: m.index)),
                   result.group_public_key, result.commitments, result.public_shares)

    def content(self) -> dict[str, Any]:
        """The hashed content as a plain CBOR/JSON-able dict (bytes as 0x-hex)."""
        return {
            "version": LOCK_VERSION, "name": self.name, "epoch": self.epoch,
            "threshold": self.threshold,
            "members": [{"index": m.index, "name": m.name,
                         "encryption_key": "0x" + m.encryption_key.hex()} for m in self.members],
            "group_public_key": "0x" + self.group_public_key.to_bytes().hex(),
            "commitments": ["0x" + c.to_bytes().hex() for c in self.commitments],
            "public_shares": [{"index": p.index, "public_key": "0x" + p.public_key.to_bytes().hex()}
                              for p in self.public_shares],
        }

    def canonical_hash(self) -> bytes:
        """SHA-256 of the canonical CBOR encoding of :meth:`content`."""
        return content_hash(self.content())

    def to_json(self) -> str:
        """The lock file text: the content plus ``lock_hash``."""
        return json_with_hash(self.content(), "lock_hash")

    def check(self) -> None:
        """Raise ``ClusterLockError`` unless the lock is internally consistent."""
        try:
            check_parameters(self.threshold, len(self.members))
        except ConsensusError as err:
            raise ClusterLockError(str(err)) from err
        indices = [m.index for m in self.members]
        if len(set(indices)) != len(indices):
            raise ClusterLockError("duplicate member index")
        if [p.index for p in self.public_shares] != indices:
            raise ClusterLockError("public shares do not match the members")
        if len(self.commitments) != self.threshold or self.commitments[0] != self.group_public_key:
            raise ClusterLockError("commitments do not match threshold and group key")
        for share in self.public_shares:
            if public_share_from_commitments(self.commitments, share.index) != share:
                raise ClusterLockError(f"public share {share.index} is off the polynomial")

    def verify_share(self, share: KeyShare) -> bool:
        """Whether ``share`` is the secret behind this lock's public share of its index."""
        expected = next((p for p in self.public_shares if p.index == share.index), None)
        return expected is not None and public_key(share.secret) == expected.public_key

    @classmethod
    def from_json(cls, text: str) -> ClusterLock:
        """Strictly parse a lock file, recompute its hash and check its consistency."""
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict):
                raise ClusterLockError("expected a JSON object")
            claimed = bytes.fromhex(doc.pop("lock_hash")[2:])
            if doc["version"] != LOCK_VERSION:
                raise ClusterLockError(f"unsupported lock version {doc['version']!r}")

            def hx(value: str) -> bytes:
                if not isinstance(value, str) or not value.startswith("0x"):
                    raise ClusterLockError("expected 0x-hex")
                return bytes.fromhex(value[2:])

            lock = cls(
                str(doc["name"]), int(doc["epoch"]), int(doc["threshold"]),
                tuple(LockMember(int(m["index"]), str(m["name"]), hx(m["encryption_key"]))
                      for m in doc["members"]),
                PublicKey.from_bytes(hx(doc["group_public_key"])),
                tuple(PublicKey.from_bytes(hx(c)) for c in doc["commitments"]),
                tuple(PublicKeyShare(int(p["index"]), PublicKey.from_bytes(hx(p["public_key"])))
                      for p in doc["public_shares"]))
            if set(doc) != set(lock.content()):
                raise ClusterLockError("unexpected or missing fields")
            lock.check()
        except ClusterLockError:
            raise
        except (ConsensusError, KeyError, TypeError, ValueError, AttributeError) as err:
            raise ClusterLockError(f"malformed lock: {type(err).__name__}: {err}") from err
        if lock.canonical_hash() != claimed:
            raise ClusterLockError("lock hash mismatch")
        return lock
