"""Distributed key generation and resharing (joint-Feldman with complaints), sans-IO."""

from consensus.dkg.config import (
    CeremonyConfig,
    DkgResult,
    Evidence,
    Member,
    Outgoing,
    Phase,
    ReshareInfo,
    Step,
)
from consensus.dkg.ecies import EncryptionKeyPair
from consensus.dkg.machine import Participant
from consensus.dkg.messages import (
    Deal,
    DkgMessage,
    Justification,
    Response,
    decode_message,
    encode_message,
)
from consensus.dkg.simulation import dkg_participants, reshare_participants, run_ceremony

__all__ = [
    "CeremonyConfig",
    "Deal",
    "DkgMessage",
    "DkgResult",
    "EncryptionKeyPair",
    "Evidence",
    "Justification",
    "Member",
    "Outgoing",
    "Participant",
    "Phase",
    "ReshareInfo",
    "Response",
    "Step",
    "decode_message",
    "dkg_participants",
    "encode_message",
    "reshare_participants",
    "run_ceremony",
]
