"""Signer-set rotation in the in-process cluster: a DKG lock, rotation components, a proposal.

:class:`RotationSim` is a ``SimConfig.prepare`` hook: it replaces the cluster's
trusted-dealer key with a real DKG lock of libp2p identities (members 1..n), adds members
that will join by rotation (started without a share), and gives every node a real
:class:`~oracle_node.ceremony.rotation.SignerSetRotation` on the governance chain (the DA
chain) over its FakeNetwork transport. :meth:`RotationSim.propose` emits the governance
``SignerSetProposed`` log the way ``signer_sets.vy`` does.

Usage::

    sim = RotationSim(n=4, t=3, joiners=2, work_dir=tmp_path)
    async with open_cluster(SimConfig(n=4, t=3, prepare=sim.prepare)) as cluster:
        sim.propose(cluster, members=[1, 2, 3, 5, 6], threshold=4, activation_block=40)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import trio
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID

from consensus import bls, threshold
from consensus.dkg import CeremonyConfig, Member, Participant, run_ceremony
from consensus.lock import ClusterLock, LockMember
from oracle_node.app import NodeDeps, RotationWiring
from oracle_node.ceremony.definition import ceremony_secret, encryption_keys
from oracle_node.ceremony.proposal import encode_signer_set_proposed
from oracle_node.ceremony.rotation import RotationEvent, SignerSetRotation
from oracle_node.ceremony.runner import PhaseTimeouts
from oracle_node.p2p.identity import generate_identity, peer_id_of
from oracle_node.types import MemberIndex, PeerIdStr, RollupChainId
from testnet.sim.cluster import SimCluster

SIGNER_SETS = "0x" + "5e" * 20
"""Address of the fake ``signer_sets`` contract on the governance chain."""
PASSWORD = "sim-rotation-password"
TIMEOUTS = PhaseTimeouts(deal=20.0, response=20.0, justification=20.0, linger=5.0)


def dkg_lock(ids: list[KeyPair], t: int, *, name: str = "sim", seed: bytes = b"sim"
             ) -> tuple[ClusterLock, list[threshold.KeyShare]]:
    """A real joint-Feldman DKG among ``ids`` (in memory) and its cluster lock."""
    keys = [encryption_keys(ceremony_secret(k)) for k in ids]
    config = CeremonyConfig.for_dkg(hashlib.sha256(seed).digest(),
                                    [Member(i, k.public) for i, k in enumerate(keys, 1)], t)
    parts = run_ceremony([Participant(config, seed=hashlib.sha256(seed + bytes([i])).digest(),
                                      dealer_index=i, recipient_index=i,
                                      encryption_keys=keys[i - 1])
                          for i in range(1, len(ids) + 1)])
    results = [p.result for p in parts]
    shares = [r.share for r in results if r is not None and r.share is not None]
    if results[0] is None or len(shares) != len(ids):
        raise RuntimeError("the simulator's DKG did not finish")
    lock = ClusterLock.from_dkg(results[0], name=name, epoch=1, members=[
        LockMember(i, peer_id_of(k), keys[i - 1].public) for i, k in enumerate(ids, 1)])
    return lock, shares


class RotationSim:
    """Prepares a cluster for a signer-set rotation (see the module docstring)."""

    def __init__(self, *, n: int, t: int, joiners: int, work_dir: Path,
                 poll_interval: float = 1.0, grace: float = 30.0) -> None:
        """Members 1..n hold the DKG key; members n+1..n+joiners join by rotation."""
        self.identities = [generate_identity() for _ in range(n + joiners)]
        self.peer_ids = [PeerIdStr(peer_id_of(k)) for k in self.identities]
        self.lock, self.shares = dkg_lock(self.identities[:n], t)
        self.n = n
        self.work_dir = work_dir
        self.poll_interval = poll_interval
        self.grace = grace
        self.network_id = 0

    def prepare(self, cluster: SimCluster) -> None:
        """``SimConfig.prepare``: DKG key, identities as peer ids, joiners, rotation hooks."""
        cluster.group_key = self.lock.group_public_key
        cluster.shares = list(self.shares)
        cluster.public_shares = {p.index: p.public_key for p in self.lock.public_shares}
        cluster.peers = {p: MemberIndex(i) for i, p in enumerate(self.peer_ids[:self.n], 1)}
        cluster.joining = {i: p for i, p in enumerate(self.peer_ids, 1) if i > self.n}
        for contract in cluster.contracts.values():
            contract.group_key = self.lock.group_public_key
            contract.used_keys = {self.lock.group_public_key.to_bytes()}
        self.network_id = cluster.config.network_id
        cluster.deps_hook = self._hook

    def _hook(self, index: int, peer: PeerIdStr, deps: NodeDeps) -> None:
        identity = self.identities[index - 1]
        send, recv = trio.open_memory_channel[RotationEvent](64)
        share = self.shares[index - 1] if index <= self.n else None
        component = SignerSetRotation(
            rpc=next(c.rpc for c in deps.chains if c.chain == deps.da_chain),
            gate=SIGNER_SETS, network_id=self.network_id,
            identity=identity, transport=deps.transport,
            lock=self.lock, share=share, data_dir=self.work_dir / f"node-{index}",
            password=PASSWORD, events=send, poll_interval=self.poll_interval,
            timeouts=TIMEOUTS, hello_timeout=30.0, scrypt_n=2**4)
        deps.governance_chain = RollupChainId(deps.da_chain)
        deps.rotation = RotationWiring(component, recv, self.network_id, self.grace)

    def propose(self, cluster: SimCluster, *, members: list[int], threshold: int,
                activation_block: int, proposal_id: int = 1) -> None:
        """Emit ``SignerSetProposed`` on the governance chain (members by sim index)."""
        chosen = [self.identities[i - 1] for i in members]
        sks = [ceremony_secret(k) for k in chosen]
        topics, data = encode_signer_set_proposed(
            epoch=1, proposal_id=proposal_id, threshold=threshold,
            activation_block=activation_block,
            peer_ids=[ID.from_base58(peer_id_of(k)).to_bytes() for k in chosen],
            member_keys=[bls.public_key(sk).to_bytes() for sk in sks],
            pops=[bls.pop_prove(sk).to_bytes() for sk in sks])
        cluster.chains[cluster.config.da_chain].emit(SIGNER_SETS, topics, data)
