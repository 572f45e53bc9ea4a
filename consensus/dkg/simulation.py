"""A deterministic in-memory broadcast driver for ceremonies (tests, benchmarks, simulator).

Delivers every broadcast to every other participant, then fires the phase deadline at all of
them, phase by phase. ``hook(phase, participants)`` runs after a phase's messages are
delivered and before its deadline: it may inject extra raw messages (byzantine peers) or
replace participants (a restart from ``to_bytes``) and returns the messages to inject.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from consensus.bls import PublicKey
from consensus.dkg.config import CeremonyConfig, Member, Phase
from consensus.dkg.ecies import EncryptionKeyPair
from consensus.dkg.machine import Participant
from consensus.threshold import KeyShare, PublicKeyShare

Hook = Callable[[Phase, list[Participant]], list[bytes]]

_PHASES = (Phase.DEAL, Phase.RESPONSE, Phase.JUSTIFICATION)


def _deliver(participants: list[Participant], pending: list[tuple[int, bytes]]) -> None:
    for sender, data in pending:
        for position, participant in enumerate(participants):
            if position != sender:
                participant.on_message(data)


def run_ceremony(participants: list[Participant], *, offline: frozenset[int] = frozenset(),
                 hook: Hook | None = None) -> list[Participant]:
    """Run a whole ceremony; ``offline`` are positions in ``participants`` that stay silent.

    Returns the (possibly replaced) participants; read ``.result``/``.failure`` from them.
    """
    pending: list[tuple[int, bytes]] = []
    for position, participant in enumerate(participants):
        if position not in offline:
            pending += [(position, out.data) for out in participant.start().outgoing]
    for phase in _PHASES:
        _deliver(participants, pending)
        pending = []
        if hook is not None:
            _deliver(participants, [(-1, data) for data in hook(phase, participants)])
        for position, participant in enumerate(participants):
            if position not in offline:
                pending += [(position, out.data)
                            for out in participant.on_deadline(phase).outgoing]
    return participants


def _derive(seed: bytes, label: str, index: int) -> bytes:
    return hashlib.sha256(f"{label}/{index}/".encode() + seed).digest()


def dkg_participants(n: int, threshold: int, *, seed: bytes, ceremony_id: bytes | None = None,
                     backend: str = "arkworks") -> list[Participant]:
    """``n`` deterministic DKG participants (member ``i`` at position ``i - 1``)."""
    keys = [EncryptionKeyPair.from_seed(_derive(seed, "enc", i), backend=backend)
            for i in range(1, n + 1)]
    cid = ceremony_id or hashlib.sha256(b"ceremony/" + seed).digest()
    config = CeremonyConfig.for_dkg(cid, [Member(i, k.public) for i, k in enumerate(keys, 1)],
                                    threshold)
    return [Participant(config, seed=_derive(seed, "dkg", i), dealer_index=i, recipient_index=i,
                        encryption_keys=keys[i - 1], backend=backend) for i in range(1, n + 1)]


def reshare_participants(old_shares: list[KeyShare], old_public_shares: list[PublicKeyShare],
                         old_threshold: int, group_public_key: PublicKey, *, new_n: int,
                         new_threshold: int, stays: dict[int, int], seed: bytes,
                         backend: str = "arkworks") -> list[Participant]:
    """Participants resharing from the old committee to ``new_n`` new members.

    ``stays`` maps an old index to the new index of the same node. Old members that leave are
    dealer-only, new members that join are recipient-only. Order: every old member by index,
    then the joining new members by index.
    """
    keys = {j: EncryptionKeyPair.from_seed(_derive(seed, "enc-new", j), backend=backend)
            for j in range(1, new_n + 1)}
    config = CeremonyConfig.for_reshare(
        hashlib.sha256(b"reshare/" + seed).digest(), old_public_shares=old_public_shares,
        old_threshold=old_threshold, group_public_key=group_public_key,
        new_members=[Member(j, k.public) for j, k in keys.items()], new_threshold=new_threshold)
    out = []
    for share in sorted(old_shares, key=lambda s: s.index):
        new = stays.get(share.index)
        out.append(Participant(config, seed=_derive(seed, "reshare", share.index),
                               dealer_index=share.index, recipient_index=new,
                               encryption_keys=None if new is None else keys[new],
                               secret=share.secret, backend=backend))
    for j in sorted(set(keys) - set(stays.values())):
        out.append(Participant(config, seed=_derive(seed, "join", j), recipient_index=j,
                               encryption_keys=keys[j], backend=backend))
    return out
