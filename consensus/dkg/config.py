"""Ceremony definitions and the values a DKG participant emits."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from consensus.bls import PublicKey
from consensus.dkg.messages import CEREMONY_ID_SIZE
from consensus.errors import DkgError, DkgStateError, EncodingError
from consensus.threshold import KeyShare, PublicKeyShare, check_index, check_parameters


class Phase(enum.Enum):
    """Ceremony phases, advanced by ``on_deadline(current phase)``."""

    DEAL = "deal"
    RESPONSE = "response"
    JUSTIFICATION = "justification"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass(frozen=True)
class Member:
    """A recipient of the ceremony: its index in the new committee and its G1 encryption key."""

    index: int
    encryption_key: bytes


@dataclass(frozen=True)
class ReshareInfo:
    """What the old committee publicly knows: its threshold, public shares and group key."""

    old_threshold: int
    old_public_shares: tuple[PublicKeyShare, ...]
    group_public_key: PublicKey


@dataclass(frozen=True)
class CeremonyConfig:
    """A DKG (``reshare is None``, dealers = recipients) or a resharing ceremony.

    ``dealers`` are indices in the dealing committee (the old committee for a reshare),
    ``recipients`` the members of the committee that ends up with shares of ``threshold``.
    """

    ceremony_id: bytes
    dealers: tuple[int, ...]
    recipients: tuple[Member, ...]
    threshold: int
    reshare: ReshareInfo | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.ceremony_id, bytes) or len(self.ceremony_id) != CEREMONY_ID_SIZE:
            raise DkgError("ceremony id must be 32 bytes")
        try:
            check_parameters(self.threshold, len(self.recipients))
            for index in self.dealers:
                check_index(index)
            for member in self.recipients:
                check_index(member.index)
        except Exception as err:
            raise DkgError(f"bad ceremony parameters: {err}") from err
        if len(set(self.dealers)) != len(self.dealers) or not self.dealers:
            raise DkgError("dealers must be distinct and non-empty")
        if len({m.index for m in self.recipients}) != len(self.recipients):
            raise DkgError("recipient indices must be distinct")
        if self.reshare is not None:
            shares = {p.index for p in self.reshare.old_public_shares}
            if not set(self.dealers) <= shares:
                raise DkgError("every resharing dealer needs an old public share")
            if not 1 <= self.reshare.old_threshold <= len(self.dealers):
                raise DkgError("old threshold must be in 1..number of dealers")
        elif set(self.dealers) != {m.index for m in self.recipients}:
            raise DkgError("in a DKG the dealers are exactly the recipients")

    @classmethod
    def for_dkg(cls, ceremony_id: bytes, members: list[Member], threshold: int) -> CeremonyConfig:
        """A fresh-key DKG among ``members`` with threshold ``threshold``."""
        return cls(ceremony_id, tuple(sorted(m.index for m in members)),
                   tuple(sorted(members, key=lambda m: m.index)), threshold)

    @classmethod
    def for_reshare(cls, ceremony_id: bytes, *, old_public_shares: list[PublicKeyShare],
                    old_threshold: int, group_public_key: PublicKey, new_members: list[Member],
                    new_threshold: int) -> CeremonyConfig:
        """Reshare the key of the old committee (all listed old members deal) to ``new_members``."""
        olds = tuple(sorted(old_public_shares, key=lambda p: p.index))
        return cls(ceremony_id, tuple(p.index for p in olds),
                   tuple(sorted(new_members, key=lambda m: m.index)), new_threshold,
                   ReshareInfo(old_threshold, olds, group_public_key))

    def recipient(self, index: int) -> Member | None:
        """The recipient with ``index``, if any."""
        return next((m for m in self.recipients if m.index == index), None)

    def old_public_share(self, dealer: int) -> PublicKey | None:
        """A resharing dealer's old public key share."""
        if self.reshare is None:
            return None
        return next((p.public_key for p in self.reshare.old_public_shares if p.index == dealer),
                    None)

    def to_obj(self) -> dict[str, Any]:
        """Plain CBOR-able form."""
        out: dict[str, Any] = {
            "id": self.ceremony_id, "dealers": list(self.dealers), "t": self.threshold,
            "recipients": [[m.index, m.encryption_key] for m in self.recipients]}
        if self.reshare is not None:
            info = self.reshare
            out["reshare"] = {
                "t": info.old_threshold, "pk": info.group_public_key.to_bytes(),
                "shares": [[p.index, p.public_key.to_bytes()] for p in info.old_public_shares]}
        return out

    @classmethod
    def from_obj(cls, obj: Any) -> CeremonyConfig:
        """Inverse of :meth:`to_obj`; raises ``DkgStateError``."""
        try:
            reshare = None
            if "reshare" in obj:
                r = obj["reshare"]
                reshare = ReshareInfo(
                    int(r["t"]),
                    tuple(PublicKeyShare(int(i), PublicKey.from_bytes(pk))
                          for i, pk in r["shares"]),
                    PublicKey.from_bytes(r["pk"]))
            return cls(bytes(obj["id"]), tuple(int(d) for d in obj["dealers"]),
                       tuple(Member(int(i), bytes(k)) for i, k in obj["recipients"]),
                       int(obj["t"]), reshare)
        except (KeyError, TypeError, ValueError, EncodingError, DkgError) as err:
            raise DkgStateError(f"bad ceremony config: {err}") from err


@dataclass(frozen=True)
class Outgoing:
    """A message to send: ``to`` is a recipient index, or ``None`` for a broadcast."""

    to: int | None
    data: bytes


@dataclass(frozen=True)
class Evidence:
    """Why a dealer was disqualified; checkable by anyone holding the ceremony's messages."""

    dealer: int
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class DkgResult:
    """The outcome of a completed ceremony, identical at every honest participant
    (apart from ``share``)."""

    group_public_key: PublicKey
    commitments: tuple[PublicKey, ...]
    threshold: int
    share: KeyShare | None
    public_shares: tuple[PublicKeyShare, ...]
    qualified: tuple[int, ...]
    disqualified: tuple[Evidence, ...]


@dataclass(frozen=True)
class Step:
    """What one input produced: messages to send, a rejection reason, evidence, the result."""

    outgoing: tuple[Outgoing, ...] = ()
    rejected: str | None = None
    evidence: tuple[Evidence, ...] = ()
    result: DkgResult | None = None
    failure: str | None = None
