"""Signer sets by block (rotation rule), key epochs per chain, and the components using them."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from trio.testing import MockClock

from consensus import threshold
from oracle_node.app import WireCodec
from oracle_node.config import parse_config
from oracle_node.errors import ConfigError
from oracle_node.keys import ConsensusScheme
from oracle_node.metrics import NodeMetrics
from oracle_node.p2p.fake import FakeNetwork
from oracle_node.pipeline.exchange import PartialExchange
from oracle_node.pipeline.messages import PartialSigned, RootVerified, StepRecorded
from oracle_node.pipeline.signer import Signer
from oracle_node.pipeline.signer_sets import ChainKey, SignerSets
from oracle_node.store.db import NodeStore
from oracle_node.types import BlockNumber, Epoch, MemberIndex, PeerIdStr, RollupChainId
from tests.node.conftest import make_schemes
from tests.node.test_exchange_batch import encoded

OLD = {PeerIdStr(f"p{i}"): MemberIndex(i) for i in range(1, 5)}
NEW = {PeerIdStr(f"p{i}"): MemberIndex(i) for i in (1, 2, 3, 5, 6)}
C1, C2 = RollupChainId(1), RollupChainId(2)


def _sets(old: ConsensusScheme, new: ConsensusScheme) -> SignerSets:
    sets = SignerSets(scheme=old, peers=OLD, group_key=b"\x01" * 96)
    sets.add_set(100, new, NEW, can_sign=True)
    return sets


def test_block_goes_to_the_set_of_its_governance_proof_height() -> None:
    old, new = make_schemes(3, 4)[0], make_schemes(4, 5, b"new")[0]
    only = SignerSets(scheme=old, peers=OLD)
    assert only.set_for(BlockNumber(7)) is not None  # one set: no placement needed
    sets = _sets(old, new)
    assert sets.set_for(BlockNumber(7)) is None  # two sets: h(7) unknown yet
    sets.place(7, 99)
    sets.place(8, 100)
    view7, view8 = sets.set_for(BlockNumber(7)), sets.set_for(BlockNumber(8))
    assert view7 is not None
    assert view7.scheme is old
    assert view8 is not None
    assert view8.scheme is new
    assert sets.rank(8) == (1, 5)
    assert sets.rank(7) == (1, 4)
    sets.unplace(8)
    assert sets.set_for(BlockNumber(8)) is None
    assert sets.is_member_peer(PeerIdStr("p4"))
    assert sets.is_member_peer(PeerIdStr("p6"))
    sets.activated(100)  # after the grace: only the new set
    assert not sets.is_member_peer(PeerIdStr("p4"))
    assert sets.is_member_peer(PeerIdStr("p6"))
    sets.retire()
    retired = sets.set_for(BlockNumber(7))
    assert retired is not None
    assert not retired.can_sign


def test_signing_epochs_per_chain_and_mismatch() -> None:
    scheme = make_schemes(3, 4)[0]
    ours, theirs = b"\x01" * 96, b"\x02" * 96
    sets = SignerSets(scheme=scheme, peers=OLD, group_key=ours)
    sets.set_chain_key(C1, ChainKey(Epoch(2), ours))
    sets.set_chain_key(C2, ChainKey(Epoch(1), ours))
    assert sets.signing_epochs([C1, C2]) == ({Epoch(2): [C1], Epoch(1): [C2]}, [])
    sets.set_chain_key(C2, ChainKey(Epoch(2), theirs))
    assert sets.signing_epochs([C1, C2]) == ({Epoch(2): [C1]}, [C2])
    sets.set_chain_key(C2, ChainKey(Epoch(3), None))  # key unknown: assumed ours
    assert sets.key_matches(C2)


async def test_signer_refuses_blocks_of_a_set_it_holds_no_share_of(
        autojump_clock: MockClock) -> None:
    group, shares, public = threshold.trusted_dealer_split_for_tests(3, 4, b"node-tests")
    old = make_schemes(3, 4)[3]
    sets = SignerSets(scheme=old, peers=OLD)
    new_view = ConsensusScheme(network_id=7, threshold_t=3, group_key=group,
                               public_shares={p.index: p.public_key for p in public},
                               own_share=None)  # member 4 holds no share of the next set
    assert new_view.own_index == 0
    assert len(shares) == 4
    sets.add_set(100, new_view, NEW, can_sign=False)  # member 4 leaves
    sets.place(1, 99)
    sets.place(2, 100)
    metrics = NodeMetrics(cluster="c", peer="p4")
    store = NodeStore.open(":memory:")
    in_tx, in_rx = trio.open_memory_channel[RootVerified](4)
    out_tx, out_rx = trio.open_memory_channel[PartialSigned](4)
    steps_tx, steps_rx = trio.open_memory_channel[StepRecorded](8)
    signer = Signer(verified=in_rx, signed=out_tx, steps=steps_tx, scheme=old, store=store,
                    metrics=metrics, book=sets)
    assert await signer.sign(RootVerified(BlockNumber(1), b"\x42" * 32, Epoch(1))) is not None
    assert await signer.sign(RootVerified(BlockNumber(2), b"\x42" * 32, Epoch(1))) is None
    assert metrics.value(metrics.drops, reason="not_a_signer") == 1
    assert store.own_signature(2, 1) is None
    with pytest.raises(ConfigError):
        new_view.sign_own(b"\x00" * 32)
    store.close()
    for ch in (in_tx, out_rx, steps_rx):
        ch.close()


async def test_exchange_drops_partials_of_unplaced_blocks(tmp_path: Path,
                                                          autojump_clock: MockClock) -> None:
    schemes = make_schemes(3, 4)
    sets = _sets(schemes[0], make_schemes(4, 5, b"new")[0])
    metrics = NodeMetrics(cluster="c", peer="p1")
    network = FakeNetwork(delay=0.01)
    _own_tx, own_rx = trio.open_memory_channel[PartialSigned](8)
    out_tx, out_rx = trio.open_memory_channel[PartialSigned](8)
    steps_tx, _ = trio.open_memory_channel[StepRecorded](8)
    store = NodeStore.open(":memory:")
    exchange = PartialExchange(own=own_rx, verified=out_tx, steps=steps_tx,
                               transport=network.add_node(PeerIdStr("p1"), allowed=list(OLD)),
                               codec=WireCodec(), scheme=schemes[0], peers=OLD, store=store,
                               metrics=metrics, topic="t", evidence_dir=tmp_path, book=sets)
    async with trio.open_nursery() as nursery:
        await nursery.start(network.run)
        await nursery.start(exchange.run)
        await exchange.on_peer_messages([(PeerIdStr("p2"), encoded(schemes[1]))])
        assert metrics.value(metrics.partials_invalid, reason="unplaced_block") == 1
        sets.place(1, 50)  # block 1 belongs to the old set
        await exchange.on_peer_messages([(PeerIdStr("p2"), encoded(schemes[1]))])
        await exchange.on_peer_messages([(PeerIdStr("p9"), encoded(schemes[2]))])
        assert metrics.value(metrics.partials_invalid, reason="non_member") == 1
        nursery.cancel_scope.cancel()
    store.close()
    out_tx.close()
    assert [int(p.member) async for p in out_rx] == [2]


def test_governance_config_is_optional_and_checked(tmp_path: Path) -> None:
    base = {"node": {"data_dir": "d", "cluster_lock": "l.json"},
            "network": {"network_id": 1, "da_chain": 1},
            "p2p": {"listen": "/ip4/127.0.0.1/tcp/9000"},
            "chains": [{"id": 1, "rpc": "http://x:1", "evm_chain_id": 5,
                        "contract": "0x" + "11" * 20}]}
    assert parse_config(base, base_dir=tmp_path).governance is None
    base["network"] = {"network_id": 1, "da_chain": 1, "governance_chain": 1,
                       "signer_sets": "0x" + "22" * 20, "rotation_grace": 5}
    gov = parse_config(base, base_dir=tmp_path).governance
    assert gov is not None
    assert (gov.chain, gov.grace) == (1, 5.0)
    base["network"] = {"network_id": 1, "da_chain": 1, "governance_chain": 2,
                       "signer_sets": "0x" + "22" * 20}
    with pytest.raises(ConfigError, match="governance_chain"):
        parse_config(base, base_dir=tmp_path)
    base["network"] = {"network_id": 1, "da_chain": 1, "governance_chain": 1}
    with pytest.raises(ConfigError, match="signer_sets"):
        parse_config(base, base_dir=tmp_path)


async def test_switching_chain_replans_only_above_what_the_chain_confirmed() -> None:
    # A successor cluster refused every block (no submissions of its own); when the chain
    # switches to its key it signs only what the chain has not confirmed yet, and its
    # schedulers drop an aggregate whose epoch the gate no longer holds.
    from oracle_node.pipeline.messages import (
        AggregateReady,
        GroupKeyChanged,
        RootConfirmed,
    )
    from oracle_node.pipeline.signer_sets import KeyPlanner

    ours, theirs = b"\x01" * 96, b"\x02" * 96
    sets = SignerSets(scheme=make_schemes(3, 4)[0], peers=OLD, group_key=ours)
    sets.set_chain_key(C1, ChainKey(Epoch(1), theirs))
    store = NodeStore.open(":memory:")
    for block in range(1, 8):
        store.record_verified(block, bytes([block]) * 32, b"\x00" * 32, 1)
    steps_tx, _steps_rx = trio.open_memory_channel[StepRecorded](16)
    replan_tx, replan_rx = trio.open_memory_channel[RootVerified](16)
    planner = KeyPlanner(sets=sets, chains={}, steps=steps_tx,
                         metrics=NodeMetrics(cluster="c", peer="p"),
                         store=store, replan=replan_tx)
    for block in (3, 5, 4):  # confirmed by the old cluster, facts in any order
        assert await planner.observe(RootConfirmed(C1, BlockNumber(block), b"", Epoch(1),
                                                   b"", 10 + block))
    stale = AggregateReady(BlockNumber(6), b"\x06" * 32, Epoch(1), b"", ())
    assert not planner.is_current(C1, stale)  # another key: never sent
    await planner.observe(GroupKeyChanged(C1, Epoch(2), ours, 20))
    replan_tx.close()
    assert [int(v.block_number) async for v in replan_rx] == [6, 7]
    assert not planner.is_current(C1, stale)  # our key now, but epoch 2
    assert planner.is_current(C1, AggregateReady(BlockNumber(6), b"\x06" * 32, Epoch(2),
                                                 b"", ()))


async def test_still_current_reads_the_gate_epoch_before_an_attempt() -> None:
    from eth_abi.abi import encode as abi_encode

    from oracle_node.errors import ChainError
    from oracle_node.pipeline.messages import AggregateReady
    from oracle_node.pipeline.signer_sets import KeyPlanner

    class Gate:
        """Answers ``epoch()`` (the only call ``still_current`` makes)."""

        epoch: int | None = 1

        async def call(self, *, to: str, data: bytes) -> bytes:
            if self.epoch is None:
                raise ChainError("endpoint down")
            return abi_encode(["uint256"], [self.epoch])

    gate = Gate()
    sets = SignerSets(scheme=make_schemes(3, 4)[0], peers=OLD, group_key=b"\x01" * 96)
    sets.set_chain_key(C1, ChainKey(Epoch(1), b"\x01" * 96))
    steps_tx, _steps_rx = trio.open_memory_channel[StepRecorded](1)
    planner = KeyPlanner(sets=sets, chains={C1: (gate, "0x" + "11" * 20)},  # type: ignore[dict-item]
                         steps=steps_tx, metrics=NodeMetrics(cluster="c", peer="p"))
    agg = AggregateReady(BlockNumber(4), b"\x04" * 32, Epoch(1), b"", ())
    assert await planner.still_current(C1, agg)
    gate.epoch = 2  # the handover is mined; this node's watcher has not reported it yet
    assert planner.is_current(C1, agg)
    assert not await planner.still_current(C1, agg)
    gate.epoch = None  # an unreadable gate does not stop confirmations
    assert await planner.still_current(C1, agg)
