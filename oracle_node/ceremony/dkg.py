"""One member's whole DKG: definition in, cluster lock and encrypted key share out.

``run_dkg_member`` works over any ``Transport`` (FakeNetwork in tests); ``run_dkg_libp2p``
starts the real libp2p host from the definition and runs it (``oracle-node dkg``).
Outputs in the node directory: ``cluster-lock.json`` and ``keys/bls-share.json`` (EIP-2335,
the node password). The sealed state ``ceremony/dkg-<id>.state`` exists while the ceremony
runs (a restarted member resumes from it) and is wiped once both outputs are written.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio
from libp2p.crypto.keys import KeyPair

from consensus.dkg import CeremonyConfig, Participant
from consensus.lock import ClusterLock, LockMember
from oracle_node.ceremony.definition import (
    ClusterDefinition,
    ceremony_secret,
    encryption_keys,
    state_key,
)
from oracle_node.ceremony.errors import CeremonyError, CeremonyStateError
from oracle_node.ceremony.output import share_description, write_ceremony_output
from oracle_node.ceremony.runner import (
    CeremonyRunner,
    PhaseTimeouts,
    Progress,
    Roster,
    RunnerStats,
    ceremony_protocol,
)
from oracle_node.ceremony.state import StateFile
from oracle_node.keys import load_lock
from oracle_node.multiaddr import MultiaddrError, parse_tcp_multiaddr
from oracle_node.p2p.identity import peer_id_of, sign_with_identity
from oracle_node.ports import Transport
from oracle_node.types import MemberIndex, PeerIdStr

LOCK_FILE = "cluster-lock.json"
SHARE_FILE = "keys/bls-share.json"
EIP2335_SCRYPT_N = 2**18


@dataclass(frozen=True)
class DkgOutcome:
    """What a finished DKG left in the node directory."""

    lock: ClusterLock
    lock_path: Path
    share_path: Path
    index: int
    stats: RunnerStats | None


def state_path(node_dir: Path, ceremony_id: bytes) -> Path:
    """Where the sealed state of ceremony ``ceremony_id`` lives."""
    return node_dir / "ceremony" / f"dkg-{ceremony_id.hex()[:16]}.state"


def _existing_outcome(definition: ClusterDefinition, node_dir: Path,
                      index: int) -> DkgOutcome | None:
    lock_path, share_path = node_dir / LOCK_FILE, node_dir / SHARE_FILE
    if not lock_path.exists() or not share_path.exists():
        return None
    lock = load_lock(lock_path)
    if [m.name for m in lock.members] != [m.peer_id for m in definition.members]:
        raise CeremonyError(f"{lock_path} belongs to another cluster: move it away first")
    return DkgOutcome(lock, lock_path, share_path, index, None)


async def run_dkg_member(*, definition: ClusterDefinition, identity: KeyPair, node_dir: Path,
                         transport: Transport, password: str,
                         timeouts: PhaseTimeouts = PhaseTimeouts(),
                         progress: Callable[[Progress], None] | None = None,
                         scrypt_n: int = EIP2335_SCRYPT_N,
                         task_status: trio.TaskStatus[CeremonyRunner | None]
                         = trio.TASK_STATUS_IGNORED) -> DkgOutcome:
    """Run (or resume) this member's DKG and write the lock and the share keystore.

    Raises ``CeremonyFailed`` (with the evidence) if too few dealers qualified.
    """
    me = definition.member_of(peer_id_of(identity))
    done = _existing_outcome(definition, node_dir, me.index)
    if done is not None:
        task_status.started(None)
        return done
    cid = definition.ceremony_id()
    state = StateFile(state_path(node_dir, cid), state_key(identity, cid))
    participant = state.load()
    if participant is None:
        config = CeremonyConfig.for_dkg(cid, definition.dkg_members(), definition.threshold)
        participant = Participant(config, seed=secrets.token_bytes(32), dealer_index=me.index,
                                  recipient_index=me.index,
                                  encryption_keys=encryption_keys(ceremony_secret(identity)))
    elif participant.config.ceremony_id != cid or participant.recipient_index != me.index:
        raise CeremonyStateError(f"{state.path} belongs to another ceremony or member")
    peers = {m.index: m.peer_id for m in definition.members}
    runner = await run_signed(
        transport=transport, participant=participant, roster=Roster(peers, peers),
        member=MemberIndex(me.index), network_id=definition.network_id, identity=identity,
        state=state, timeouts=timeouts, progress=progress, task_status=task_status)
    result = runner.outcome()
    lock = ClusterLock.from_dkg(result, name=definition.name, epoch=1, members=[
        LockMember(m.index, m.peer_id, m.encryption_key) for m in definition.members])
    lock.check()
    if result.share is None or not lock.verify_share(result.share):
        raise CeremonyError("the DKG produced no valid share for this member")
    share_path = node_dir / SHARE_FILE
    if share_path.exists():
        os.replace(share_path, share_path.with_suffix(".json.bak"))
    write_ceremony_output(lock=lock, lock_path=node_dir / LOCK_FILE, share=result.share,
                          share_path=share_path, password=password, scrypt_n=scrypt_n,
                          description=share_description(me.index, definition.name),
                          pubkey=lock.public_shares[me.index - 1].public_key.to_bytes())
    state.wipe()
    return DkgOutcome(lock, node_dir / LOCK_FILE, share_path, me.index, runner.stats)


async def run_signed(*, transport: Transport, participant: Participant, roster: Roster,
                     member: MemberIndex, network_id: int, identity: KeyPair, state: StateFile,
                     timeouts: PhaseTimeouts, progress: Callable[[Progress], None] | None,
                     task_status: trio.TaskStatus[CeremonyRunner]) -> CeremonyRunner:
    """Run ``participant`` over ``transport`` (messages signed with the libp2p ``identity``,
    on ``network_id``'s ceremony protocol) until it ends; reports the runner through
    ``task_status`` once it exists and returns it (``runner.outcome()`` gives the result or
    raises ``CeremonyFailed``). Shared by the DKG and the resharing."""
    runner = CeremonyRunner(
        transport=transport, participant=participant, roster=roster, member=member,
        protocol=ceremony_protocol(network_id),
        sign=lambda data: sign_with_identity(identity, data), state=state, timeouts=timeouts,
        progress=progress or (lambda _: None))
    task_status.started(runner)
    await runner.run()
    return runner


@asynccontextmanager
async def libp2p_transport(identity: KeyPair, multiaddr: str, peers: Mapping[PeerIdStr, str],
                           *, listen_host: str | None = None) -> AsyncIterator[Transport]:
    """A running libp2p host listening at ``multiaddr`` (or ``listen_host`` on its port) that
    allows exactly ``peers`` (peer id -> multiaddr); stopped on exit."""
    from oracle_node.p2p.host import HostConfig, Libp2pTransport

    host, port = listen_of(multiaddr)
    transport = Libp2pTransport(
        key_pair=identity, allowed=list(peers), peer_addrs={p: [a] for p, a in peers.items()},
        config=HostConfig(listen_host=listen_host or host, listen_port=port))
    async with trio.open_nursery() as nursery:
        await nursery.start(transport.run)
        try:
            yield transport
        finally:
            transport.stop()


def listen_of(multiaddr: str) -> tuple[str, int]:
    """(host, port) of a TCP multiaddr; ``CeremonyError`` otherwise."""
    try:
        parsed = parse_tcp_multiaddr(multiaddr)
    except MultiaddrError as err:
        raise CeremonyError(str(err)) from err
    return parsed.host, parsed.port


async def run_dkg_libp2p(*, definition: ClusterDefinition, identity: KeyPair, node_dir: Path,
                         password: str, timeouts: PhaseTimeouts = PhaseTimeouts(),
                         progress: Callable[[Progress], None] | None = None,
                         scrypt_n: int = EIP2335_SCRYPT_N,
                         listen_host: str | None = None) -> DkgOutcome:
    """Start the libp2p host at this member's multiaddr and run the DKG over it."""
    me = definition.member_of(peer_id_of(identity))
    others = {m.peer_id: m.multiaddr for m in definition.members if m.index != me.index}
    async with libp2p_transport(identity, me.multiaddr, others,
                                listen_host=listen_host) as transport:
        return await run_dkg_member(definition=definition, identity=identity,
                                    node_dir=node_dir, transport=transport, password=password,
                                    timeouts=timeouts, progress=progress, scrypt_n=scrypt_n)
