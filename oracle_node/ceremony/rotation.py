"""Signer-set rotation: governance proposes, old and new members reshare, the set switches.

Timeline (docs/ceremony.md): ``SignerSetProposed`` on the governance chain → every old and
new member sees it (polling ``eth_getLogs``) → new members announce their share-encryption
key (``hello``, checked against the proposal's member key by a pairing) → resharing over the
transport (``reshare.run_reshare_member``) → the new lock and share are stored under
``<data_dir>/rotation/<proposal>/`` → at ``activation_block`` the component replaces the lock
and share files (old members that leave wipe their share) and emits ``SignerSetActivated``,
on which the node swaps its signing scheme. The group key and the key epoch do not change, so
signatures of the old set before and of the new set after the switch both verify on chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import trio
from libp2p.crypto.keys import KeyPair

from consensus.errors import ConsensusError
from consensus.lock import ClusterLock, LockMember
from consensus.threshold import KeyShare
from oracle_node.ceremony.definition import ceremony_secret, encryption_key_matches, encryption_keys
from oracle_node.ceremony.errors import CeremonyError, ProposalError
from oracle_node.ceremony.hello import HelloExchange
from oracle_node.ceremony.output import write_ceremony_output
from oracle_node.ceremony.proposal import (
    SIGNER_SET_PROPOSED_TOPIC,
    SignerSetProposal,
    decode_signer_set_proposed,
)
from oracle_node.ceremony.reshare import ReshareSpec, reshare_ceremony_id, run_reshare_member
from oracle_node.ceremony.runner import PhaseTimeouts, Progress
from oracle_node.ceremony.state import atomic_write
from oracle_node.errors import ChainError, OracleNodeError
from oracle_node.keys import load_lock, load_share
from oracle_node.p2p.identity import peer_id_of
from oracle_node.ports import ChainRpc, Transport
from oracle_node.types import PeerIdStr


class RotatingTransport(Transport, Protocol):
    """A transport whose allow-list can be replaced (both adapters have it)."""

    def set_allowed_peers(self, peers: Iterable[PeerIdStr]) -> None:
        """Replace the allow-list."""
        ...


@dataclass(frozen=True)
class ReshareCompleted:
    """The resharing of ``proposal_id`` finished; the new set takes over at ``activation_block``."""

    proposal_id: int
    lock: ClusterLock
    share: KeyShare | None
    activation_block: int


@dataclass(frozen=True)
class SignerSetActivated:
    """From ``block`` on the new set signs; ``share`` None means this node left (stop signing)."""

    proposal_id: int
    lock: ClusterLock
    share: KeyShare | None
    block: int


@dataclass(frozen=True)
class RotationFailed:
    """A proposal could not be carried out; ``reason`` names the member and what it did."""

    proposal_id: int
    reason: str


RotationEvent = ReshareCompleted | SignerSetActivated | RotationFailed


def _wipe(path: Path) -> None:
    """Overwrite a secret file in place, then delete it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    with path.open("r+b") as handle:
        handle.write(b"\0" * size)
        handle.flush()
    path.unlink()


class SignerSetRotation:
    """Watches the governance chain's gate and carries out signer-set proposals."""

    def __init__(self, *, rpc: ChainRpc, gate: str, network_id: int, identity: KeyPair,
                 transport: RotatingTransport, lock: ClusterLock, share: KeyShare | None,
                 data_dir: Path, password: str,
                 events: trio.MemorySendChannel[RotationEvent],
                 lock_path: Path | None = None, share_path: Path | None = None,
                 from_block: int = 0, poll_interval: float = 2.0,
                 timeouts: PhaseTimeouts = PhaseTimeouts(), hello_timeout: float = 60.0,
                 scrypt_n: int = 2**18,
                 progress: Callable[[Progress], None] | None = None) -> None:
        """``lock_path``/``share_path``: the node's live files, replaced at activation."""
        self._rpc = rpc
        self._gate = gate
        self._network_id = network_id
        self._identity = identity
        self._me = peer_id_of(identity)
        self._transport = transport
        self.lock = lock
        self.share = share
        self._dir = data_dir / "rotation"
        self._password = password
        self._events = events
        self._lock_path = lock_path
        self._share_path = share_path
        self._cursor = from_block
        self._poll = poll_interval
        self._timeouts = timeouts
        self._scrypt_n = scrypt_n
        self._hello = HelloExchange(transport=transport, network_id=network_id,
                                    identity=identity, timeout=hello_timeout)
        self._progress = progress or (lambda _: None)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Poll the gate for proposals and carry each out in turn, forever."""
        self._hello.install()
        task_status.started()
        while True:
            try:
                head = await self._rpc.block_number()
                logs = [] if head < self._cursor else await self._rpc.get_logs(
                    address=self._gate, topics=[SIGNER_SET_PROPOSED_TOPIC],
                    from_block=self._cursor, to_block=head)
            except ChainError:
                await trio.sleep(self._poll)
                continue
            self._cursor = head + 1
            for log in logs:
                try:
                    proposal = decode_signer_set_proposed(log)
                except ProposalError as err:
                    await self._events.send(RotationFailed(
                        int.from_bytes(log.topics[2], "big") if len(log.topics) > 2 else 0,
                        f"ignored proposal: {err}"))
                    continue
                await self._carry_out(proposal, head)
            await trio.sleep(self._poll)

    async def _carry_out(self, proposal: SignerSetProposal, head: int) -> None:
        folder = self._dir / f"proposal-{proposal.proposal_id}"
        if (folder / "activated").exists():
            return
        new_peers = {m.peer_id for m in proposal.members}
        old_peers = {PeerIdStr(m.name) for m in self.lock.members}
        if self._me not in new_peers | old_peers:
            return
        if proposal.activation_block <= head and not (folder / "cluster-lock.json").exists():
            await self._events.send(RotationFailed(proposal.proposal_id,
                                                   "activation block already passed"))
            return
        self._transport.set_allowed_peers((old_peers | new_peers) - {self._me})
        try:
            lock, share = await self._reshare(proposal, folder)
        except (OracleNodeError, ConsensusError) as err:  # ceremony, lock or share file
            await self._events.send(RotationFailed(proposal.proposal_id, str(err)))
            self._transport.set_allowed_peers(old_peers - {self._me})
            return
        await self._events.send(ReshareCompleted(proposal.proposal_id, lock, share,
                                                 proposal.activation_block))
        while await self._head() < proposal.activation_block:
            await trio.sleep(self._poll)
        self._activate(lock, share, folder / "bls-share.json")
        atomic_write(folder / "activated", b"")
        self._transport.set_allowed_peers(new_peers - {self._me})
        await self._events.send(SignerSetActivated(proposal.proposal_id, lock, share,
                                                   proposal.activation_block))

    async def _head(self) -> int:
        try:
            return await self._rpc.block_number()
        except ChainError:
            return -1

    async def _reshare(self, proposal: SignerSetProposal,
                       folder: Path) -> tuple[ClusterLock, KeyShare | None]:
        lock_file, share_file = folder / "cluster-lock.json", folder / "bls-share.json"
        if lock_file.exists():  # finished before a restart
            lock = load_lock(lock_file)
            share = (load_share(lock, share_file, self._password) if share_file.exists()
                     else None)
            return lock, share
        cid = reshare_ceremony_id(b"rotation", self._network_id.to_bytes(32, "big"),
                                  self._gate.lower().encode(),
                                  proposal.proposal_id.to_bytes(32, "big"),
                                  self.lock.canonical_hash())
        mine = next((m for m in proposal.members if m.peer_id == self._me), None)
        own_key = None if mine is None else encryption_keys(ceremony_secret(self._identity))
        if own_key is not None and mine is not None and \
                not encryption_key_matches(own_key.public, mine.member_key):
            raise CeremonyError("the proposal lists another member key for this node")
        keys = await self._hello.exchange(
            cid, members={m.peer_id: (m.index, m.member_key) for m in proposal.members},
            peers={PeerIdStr(m.name) for m in self.lock.members},
            own=None if own_key is None or mine is None else (mine.index, own_key.public))
        spec = ReshareSpec(cid, self._network_id, self.lock, tuple(
            LockMember(m.index, m.peer_id, keys[m.peer_id]) for m in proposal.members),
            proposal.threshold)
        outcome = await run_reshare_member(spec=spec, identity=self._identity,
                                           transport=self._transport, state_dir=folder,
                                           old_share=self.share, timeouts=self._timeouts,
                                           progress=self._progress)
        write_ceremony_output(lock=outcome.lock, lock_path=lock_file, share=outcome.share,
                              share_path=share_file, password=self._password,
                              scrypt_n=self._scrypt_n)
        outcome.state.wipe()
        return outcome.lock, outcome.share

    def _activate(self, lock: ClusterLock, share: KeyShare | None, share_file: Path) -> None:
        """Switch the live files: new lock, new share (or none: wipe the old one).

        ``share_file`` is the reshare's keystore of ``share`` (same password and scrypt cost),
        copied as is rather than paying for a second scrypt encryption.
        """
        if self._share_path is not None:
            _wipe(self._share_path)
            if share is not None:
                atomic_write(self._share_path, share_file.read_bytes())
        if self._lock_path is not None:
            atomic_write(self._lock_path, lock.to_json().encode(), mode=0o644)
        self.lock, self.share = lock, share
