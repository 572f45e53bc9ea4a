"""Rotation 4 members t=3 -> 5 members t=4 (one replaced) over FakeNetwork + FakeChain."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import trio
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID

from consensus import bls, threshold
from consensus.dkg import CeremonyConfig, Member, Participant, run_ceremony
from consensus.keystore import decrypt_keystore, encrypt_keystore
from consensus.lock import ClusterLock, LockMember
from consensus.message import signing_message
from oracle_node.ceremony.definition import ceremony_secret, encryption_keys
from oracle_node.ceremony.proposal import encode_signer_set_proposed
from oracle_node.ceremony.rotation import (
    ReshareCompleted,
    RotationEvent,
    RotationFailed,
    SignerSetActivated,
    SignerSetRotation,
)
from oracle_node.chain.fake import FakeChain
from oracle_node.p2p.fake import open_fake_network
from oracle_node.p2p.identity import peer_id_of
from oracle_node.types import PeerIdStr
from tests.ceremony.helpers import FAST, PASSWORD, TEST_SCRYPT_N, identities

GATE = "0x" + "ab" * 20
ACTIVATION = 40


def _old_cluster(ids: list[KeyPair]) -> tuple[ClusterLock, list[threshold.KeyShare]]:
    keys = [encryption_keys(ceremony_secret(k)) for k in ids]
    config = CeremonyConfig.for_dkg(hashlib.sha256(b"old").digest(),
                                    [Member(i, k.public) for i, k in enumerate(keys, 1)], 3)
    parts = run_ceremony([Participant(config, seed=bytes([i]) * 32, dealer_index=i,
                                      recipient_index=i, encryption_keys=keys[i - 1])
                          for i in range(1, 5)])
    results = [p.result for p in parts]
    assert all(r is not None for r in results)
    lock = ClusterLock.from_dkg(results[0], name="rot", epoch=1, members=[  # type: ignore[arg-type]
        LockMember(i, peer_id_of(k), keys[i - 1].public) for i, k in enumerate(ids, 1)])
    return lock, [r.share for r in results]  # type: ignore[union-attr,misc]


@dataclass
class NodeView:
    """What the node would keep: signer sets by starting block."""

    sets: list[tuple[int, ClusterLock, threshold.KeyShare | None]] = field(default_factory=list)
    events: list[RotationEvent] = field(default_factory=list)

    def signer_for(self, block: int) -> tuple[ClusterLock, threshold.KeyShare | None]:
        current = [s for s in self.sets if s[0] <= block][-1]
        return current[1], current[2]


async def test_rotation_four_to_five_keeps_group_key_and_signing(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    ids = identities(6)
    old, new = ids[:4], [*ids[:3], ids[4], ids[5]]
    lock, shares = _old_cluster(old)
    chain = FakeChain(chain_id=5)
    views = {peer_id_of(k): NodeView() for k in ids}
    for i, k in enumerate(old):
        views[peer_id_of(k)].sets.append((0, lock, shares[i]))
    for k in ids[4:]:
        views[peer_id_of(k)].sets.append((0, lock, None))
    share_files: dict[PeerIdStr, Path] = {}
    async with open_fake_network(delay=(0.001, 0.01), seed=3) as net, \
            trio.open_nursery() as nursery:
        await nursery.start(chain.run_miner, 1.0)
        all_peers = [peer_id_of(k) for k in ids]
        for i, k in enumerate(ids):
            me = peer_id_of(k)
            tr = net.add_node(me, allowed=[p for p in all_peers[:4] if p != me])
            send, recv = trio.open_memory_channel[RotationEvent](16)
            data_dir = tmp_path / f"n{i}"
            share = shares[i] if i < 4 else None
            share_path = data_dir / "keys" / "bls-share.json"
            if share is not None:
                share_path.parent.mkdir(parents=True)
                share_path.write_text(json.dumps(encrypt_keystore(
                    share.secret.to_bytes(), PASSWORD, scrypt_n=TEST_SCRYPT_N)))
                share_files[me] = share_path
            rotation = SignerSetRotation(
                rpc=chain, gate=GATE, network_id=7, identity=k, transport=tr, lock=lock,
                share=share, data_dir=data_dir, password=PASSWORD, events=send,
                lock_path=data_dir / "cluster-lock.json", share_path=share_path,
                poll_interval=1.0, timeouts=FAST, hello_timeout=30.0, scrypt_n=TEST_SCRYPT_N)
            await nursery.start(rotation.run)
            nursery.start_soon(_collect, recv, views[me])
        await trio.sleep(3.0)
        sks = [ceremony_secret(k) for k in new]
        topics, data = encode_signer_set_proposed(
            epoch=1, proposal_id=1, threshold=4, activation_block=ACTIVATION,
            peer_ids=[ID.from_base58(peer_id_of(k)).to_bytes() for k in new],
            member_keys=[bls.public_key(sk).to_bytes() for sk in sks],
            pops=[bls.pop_prove(sk).to_bytes() for sk in sks])
        chain.emit(GATE, topics, data)
        signed_by: dict[int, int] = {}
        for block in range(1, ACTIVATION + 6):
            while chain.head < block:
                await trio.sleep(0.5)
            await trio.sleep(0.9)  # the nodes' pollers see the block
            signed_by[block] = _confirm(views, block)
        nursery.cancel_scope.cancel()
    # before the activation block the old set (t=3) signs, from it on the new set (t=4)
    assert {signed_by[b] for b in range(1, ACTIVATION)} == {3}
    assert {signed_by[b] for b in range(ACTIVATION, ACTIVATION + 6)} == {4}
    for k in new:
        view = views[peer_id_of(k)]
        assert [type(e) for e in view.events] == [ReshareCompleted, SignerSetActivated]
        new_lock, new_share = view.signer_for(ACTIVATION)
        assert new_lock.group_public_key == lock.group_public_key
        assert new_share is not None
        assert [m.name for m in new_lock.members] == [peer_id_of(x) for x in new]
    leaver = peer_id_of(old[3])
    assert views[leaver].signer_for(ACTIVATION)[1] is None
    assert not share_files[leaver].exists()  # the leaving member wiped its old share
    stayer = peer_id_of(old[0])
    secret = decrypt_keystore(share_files[stayer].read_text(), PASSWORD)
    assert secret == views[stayer].signer_for(ACTIVATION)[1].secret.to_bytes()  # type: ignore[union-attr]
    assert not any(isinstance(e, RotationFailed) for v in views.values() for e in v.events)


async def _collect(recv: trio.MemoryReceiveChannel[RotationEvent], view: NodeView) -> None:
    async for event in recv:
        view.events.append(event)
        if isinstance(event, ReshareCompleted):
            view.sets.append((event.activation_block, event.lock, event.share))


def _confirm(views: dict[PeerIdStr, NodeView], block: int) -> int:
    """Every node signs ``block`` with its set for it; combine t partials; return t."""
    msg = signing_message(network_id=7, epoch=1, block_number=block, final_root=b"\x22" * 32)
    partials = []
    locks = set()
    for view in views.values():
        lock, share = view.signer_for(block)
        if share is not None:
            partials.append(threshold.partial_sign(share, msg))
            locks.add(lock.canonical_hash())
    assert len(locks) == 1  # every signer uses the same signer set for this block
    lock = next(v.signer_for(block)[0] for v in views.values()
                if v.signer_for(block)[1] is not None)
    for p in partials:
        pub = next(x for x in lock.public_shares if x.index == p.index)
        assert threshold.verify_partial(pub, msg, p)
    signature = threshold.combine(sorted(partials, key=lambda p: p.index)[: lock.threshold],
                                  lock.threshold)
    assert bls.verify(lock.group_public_key, msg, signature)
    return lock.threshold
