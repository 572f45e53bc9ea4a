"""Group-key handover signatures: each old member's partial, and their combination.

A handover replaces a gate's group key A by B (docs/gate.md); the gate accepts it when A's
group signature over ``handover_message(network_id, old_epoch, B)`` verifies. Members never
sign a raw 32-byte value here: the message is rebuilt from its fields, so a coordinator
cannot pass off a confirmation's signing message (also 32 bytes) as a handover.
Pure: no I/O; the node's command (``oracle-node handover-sign``) persists what it signed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from consensus import bls, threshold
from consensus.errors import ConsensusError, EncodingError
from consensus.lock import ClusterLock
from consensus.message import handover_message


class HandoverError(ConsensusError):
    """Raised when a handover partial or its combination does not check out."""


@dataclass(frozen=True)
class HandoverPartial:
    """One old member's signature share over a handover (what it sends the coordinator)."""

    member: int
    network_id: int
    old_epoch: int
    new_key: bytes
    partial: bytes

    @property
    def message(self) -> bytes:
        """The 32-byte handover message (recomputed, never taken from the sender)."""
        return handover_message(network_id=self.network_id, old_epoch=self.old_epoch,
                                new_key=self.new_key)

    def to_json(self) -> str:
        """The exchange format (one JSON object; byte strings 0x-hex)."""
        return json.dumps({"member": self.member, "network_id": self.network_id,
                           "old_epoch": self.old_epoch, "new_key": "0x" + self.new_key.hex(),
                           "message": "0x" + self.message.hex(),
                           "partial": "0x" + self.partial.hex()}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> HandoverPartial:
        """Strictly parse :meth:`to_json` output; :class:`HandoverError` otherwise."""
        try:
            doc = json.loads(text)
            partial = cls(member=_uint(doc["member"]), network_id=_uint(doc["network_id"]),
                          old_epoch=_uint(doc["old_epoch"]), new_key=_hex(doc["new_key"]),
                          partial=_hex(doc["partial"]))
            stated, message = _hex(doc["message"]), partial.message
        except (ValueError, KeyError, TypeError, EncodingError) as err:
            raise HandoverError(f"not a handover partial: {err}") from err
        if stated != message:
            raise HandoverError("the stated message is not the handover message of its fields")
        return partial


def _uint(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return value


def _hex(value: object) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"expected 0x-hex, got {value!r}")
    return bytes.fromhex(value[2:])


def check_new_key(new_key: bytes, lock: ClusterLock) -> bls.PublicKey:
    """The successor key as a valid G2 point that is not the current group key."""
    try:
        key = bls.PublicKey.from_bytes(new_key)
    except EncodingError as err:
        raise HandoverError(f"the new group key is not a valid G2 point: {err}") from err
    if key == lock.group_public_key:
        raise HandoverError("the new group key is the current group key")
    return key


def sign_handover(*, lock: ClusterLock, share: threshold.KeyShare, network_id: int,
                  old_epoch: int, new_key: bytes) -> HandoverPartial:
    """This member's partial over the handover to ``new_key`` from ``old_epoch``."""
    check_new_key(new_key, lock)
    if not any(p.index == share.index for p in lock.public_shares):
        raise HandoverError(f"share {share.index} is not a member of the lock")
    message = handover_message(network_id=network_id, old_epoch=old_epoch, new_key=new_key)
    partial = threshold.partial_sign(share, message)
    return HandoverPartial(share.index, network_id, old_epoch, bytes(new_key),
                           partial.signature.to_bytes())


def combine_handover(lock: ClusterLock, partials: Sequence[HandoverPartial]) -> bytes:
    """The group signature (48 B) from t valid partials of one handover.

    Every partial must name the same (network, epoch, key) and verify under its member's
    public share in ``lock``; invalid ones are reported, not silently skipped.
    """
    if not partials:
        raise HandoverError("no partials")
    first = partials[0]
    subject = (first.network_id, first.old_epoch, first.new_key)
    check_new_key(first.new_key, lock)
    shares = {p.index: p for p in lock.public_shares}
    valid: dict[int, threshold.PartialSignature] = {}
    for item in partials:
        if (item.network_id, item.old_epoch, item.new_key) != subject:
            raise HandoverError(f"member {item.member}'s partial is for another handover")
        public = shares.get(item.member)
        if public is None:
            raise HandoverError(f"member {item.member} is not in the lock")
        try:
            signature = threshold.PartialSignature(item.member,
                                                   bls.Signature.from_bytes(item.partial))
        except ConsensusError as err:
            raise HandoverError(f"member {item.member}'s partial is malformed: {err}") from err
        if not threshold.verify_partial(public, first.message, signature):
            raise HandoverError(f"member {item.member}'s partial does not verify")
        valid[item.member] = signature
    if len(valid) < lock.threshold:
        raise HandoverError(f"{len(valid)} distinct valid partials, the lock needs "
                            f"{lock.threshold}")
    chosen = [valid[m] for m in sorted(valid)[:lock.threshold]]
    combined = threshold.combine(chosen, lock.threshold)
    if not bls.verify(lock.group_public_key, first.message, combined):
        raise HandoverError("the combined signature does not verify under the group key")
    return combined.to_bytes()
