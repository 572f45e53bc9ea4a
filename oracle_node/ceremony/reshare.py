"""One member's resharing: the old committee deals its shares of the group key to a new one.

Roles come from peer ids: a peer in the old lock deals (with its old share), a peer among the
new members receives, a staying peer does both. The group key is unchanged; the new lock keeps
the old lock's name and key epoch (docs/protocol.md §6: only a key replacement bumps it).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trio
from libp2p.crypto.keys import KeyPair

from consensus.dkg import CeremonyConfig, Member, Participant
from consensus.lock import ClusterLock, LockMember
from consensus.threshold import KeyShare
from oracle_node.ceremony.definition import ceremony_secret, encryption_keys, state_key
from oracle_node.ceremony.dkg import libp2p_transport, run_signed
from oracle_node.ceremony.errors import CeremonyError, CeremonyStateError
from oracle_node.ceremony.output import write_ceremony_output
from oracle_node.ceremony.runner import CeremonyRunner, PhaseTimeouts, Progress, Roster, RunnerStats
from oracle_node.ceremony.state import StateFile
from oracle_node.p2p.identity import peer_id_of
from oracle_node.ports import Transport
from oracle_node.types import MemberIndex, PeerIdStr


@dataclass(frozen=True)
class ReshareSpec:
    """What every participant of one resharing agrees on."""

    ceremony_id: bytes
    network_id: int
    old_lock: ClusterLock
    new_members: tuple[LockMember, ...]
    """Index, peer id (``name``) and G1 share-encryption key of each new member."""
    new_threshold: int

    def peers(self) -> set[PeerIdStr]:
        """Every peer taking part (old and new members)."""
        return {PeerIdStr(m.name) for m in (*self.old_lock.members, *self.new_members)}


@dataclass(frozen=True)
class ReshareOutcome:
    """The new lock (same group key) and this member's new share (None if it left)."""

    lock: ClusterLock
    share: KeyShare | None
    stats: RunnerStats
    state: StateFile
    """The sealed ceremony state: wipe it once the new share is stored durably."""


def reshare_ceremony_id(label: bytes, *parts: bytes) -> bytes:
    """A 32-byte ceremony id binding ``label`` and ``parts`` (lock hash, proposal, …)."""
    digest = hashlib.sha256(b"zklink-oracle/reshare/v1\0" + label)
    for part in parts:
        digest.update(len(part).to_bytes(4, "big") + part)
    return digest.digest()


def state_path(state_dir: Path, ceremony_id: bytes) -> Path:
    """Where the sealed state of resharing ``ceremony_id`` lives."""
    return state_dir / f"reshare-{ceremony_id.hex()[:16]}.state"


async def run_reshare_member(*, spec: ReshareSpec, identity: KeyPair, transport: Transport,
                             state_dir: Path, old_share: KeyShare | None,
                             timeouts: PhaseTimeouts = PhaseTimeouts(),
                             progress: Callable[[Progress], None] | None = None,
                             task_status: trio.TaskStatus[CeremonyRunner]
                             = trio.TASK_STATUS_IGNORED) -> ReshareOutcome:
    """Run (or resume) this member's part; raises ``CeremonyFailed`` with the evidence."""
    me = peer_id_of(identity)
    old_index = next((m.index for m in spec.old_lock.members if m.name == me), None)
    new_index = next((m.index for m in spec.new_members if m.name == me), None)
    if old_index is None and new_index is None:
        raise CeremonyError(f"{me} is neither an old nor a new member")
    if old_index is not None and (old_share is None or old_share.index != old_index
                                  or not spec.old_lock.verify_share(old_share)):
        raise CeremonyError("an old member needs its share of the old lock")
    state = StateFile(state_path(state_dir, spec.ceremony_id),
                      state_key(identity, spec.ceremony_id))
    participant = state.load()
    if participant is None:
        config = CeremonyConfig.for_reshare(
            spec.ceremony_id, old_public_shares=list(spec.old_lock.public_shares),
            old_threshold=spec.old_lock.threshold,
            group_public_key=spec.old_lock.group_public_key,
            new_members=[Member(m.index, m.encryption_key) for m in spec.new_members],
            new_threshold=spec.new_threshold)
        participant = Participant(
            config, seed=secrets.token_bytes(32), dealer_index=old_index,
            recipient_index=new_index,
            encryption_keys=None if new_index is None else encryption_keys(
                ceremony_secret(identity)),
            secret=None if old_share is None else old_share.secret)
    elif participant.config.ceremony_id != spec.ceremony_id:
        raise CeremonyStateError(f"{state.path} belongs to another ceremony")
    roster = Roster({m.index: PeerIdStr(m.name) for m in spec.old_lock.members},
                    {m.index: PeerIdStr(m.name) for m in spec.new_members})
    runner = await run_signed(
        transport=transport, participant=participant, roster=roster,
        member=MemberIndex(new_index or old_index or 0), network_id=spec.network_id,
        identity=identity, state=state, timeouts=timeouts, progress=progress,
        task_status=task_status)
    result = runner.outcome()
    lock = ClusterLock.from_dkg(result, name=spec.old_lock.name, epoch=spec.old_lock.epoch,
                                members=list(spec.new_members))
    lock.check()
    if result.share is not None and not lock.verify_share(result.share):
        raise CeremonyError("the resharing produced an invalid share for this member")
    return ReshareOutcome(lock, result.share, runner.stats, state)


async def run_reshare_libp2p(*, old_lock: ClusterLock, old_share: KeyShare | None,
                             addresses: dict[PeerIdStr, str], new_members: tuple[LockMember, ...],
                             new_threshold: int, network_id: int, ceremony_id: bytes,
                             identity: KeyPair, node_dir: Path, password: str,
                             timeouts: PhaseTimeouts = PhaseTimeouts(),
                             progress: Callable[[Progress], None] | None = None,
                             scrypt_n: int = 2**18) -> tuple[ReshareOutcome, Path]:
    """Run a resharing over a libp2p host (``oracle-node reshare``); returns the output folder.

    Writes ``<node_dir>/reshare-<id>/cluster-lock.json`` and, for new members,
    ``bls-share.json``: the operator (or the rotation component) puts them in place at the
    activation block.
    """
    me = peer_id_of(identity)
    spec = ReshareSpec(ceremony_id, network_id, old_lock, new_members, new_threshold)
    others = {p: addresses[p] for p in sorted(spec.peers() - {me})}
    out = node_dir / f"reshare-{ceremony_id.hex()[:16]}"
    async with libp2p_transport(identity, addresses[me], others) as transport:
        outcome = await run_reshare_member(spec=spec, identity=identity, transport=transport,
                                           state_dir=out, old_share=old_share,
                                           timeouts=timeouts, progress=progress)
    write_ceremony_output(lock=outcome.lock, lock_path=out / "cluster-lock.json",
                          share=outcome.share, share_path=out / "bls-share.json",
                          password=password, scrypt_n=scrypt_n)
    outcome.state.wipe()
    return outcome, out
