"""Signer, exchange, aggregator, scheduler and tracker driven through their channels."""

from __future__ import annotations

from pathlib import Path

import trio
from trio.testing import MockClock

from oracle_node.app import WireCodec
from oracle_node.keys import ConsensusScheme
from oracle_node.metrics import NodeMetrics
from oracle_node.p2p import wire
from oracle_node.p2p.fake import FakeNetwork
from oracle_node.pipeline.aggregator import Aggregator
from oracle_node.pipeline.exchange import WANT_PROTOCOL, PartialExchange
from oracle_node.pipeline.messages import (
    AggregateReady,
    ConfirmationSubmitted,
    PartialSigned,
    RootConfirmed,
    RootVerified,
    StepRecorded,
)
from oracle_node.pipeline.scheduler import ConfirmationScheduler, backup_position, primary_member
from oracle_node.pipeline.signer import Signer
from oracle_node.pipeline.tracker import Tracker
from oracle_node.store.db import NodeStore
from oracle_node.types import BlockNumber, Epoch, MemberIndex, PeerIdStr, RollupChainId

ROOT = b"\x42" * 32
OTHER = b"\x43" * 32


def partial(scheme: ConsensusScheme, block: int = 1, root: bytes = ROOT) -> PartialSigned:
    """A valid partial of ``scheme``'s member."""
    msg = scheme.signing_message(epoch=Epoch(1), block_number=BlockNumber(block),
                                 final_root=root)
    return PartialSigned(BlockNumber(block), root, Epoch(1), scheme.own_index,
                         scheme.sign_own(msg))


async def test_signer_is_slashing_protected(schemes: list[ConsensusScheme], store: NodeStore,
                                            metrics: NodeMetrics) -> None:
    in_tx, in_rx = trio.open_memory_channel[RootVerified](8)
    out_tx, out_rx = trio.open_memory_channel[PartialSigned](8)
    steps_tx, _steps_rx = trio.open_memory_channel[StepRecorded](8)
    signer = Signer(verified=in_rx, signed=out_tx, steps=steps_tx, scheme=schemes[0],
                    store=store, metrics=metrics)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(signer.run)
        async with in_tx:
            await in_tx.send(RootVerified(BlockNumber(1), ROOT, Epoch(1)))
            await in_tx.send(RootVerified(BlockNumber(1), OTHER, Epoch(1)))  # refused
            await in_tx.send(RootVerified(BlockNumber(1), ROOT, Epoch(1)))  # idempotent
    out = [p async for p in out_rx]
    assert [p.final_root for p in out] == [ROOT, ROOT]
    assert out[0].signature == out[1].signature
    assert metrics.value(metrics.slashing_refusals) == 1
    assert store.own_signature(1, 1) == (ROOT, out[0].signature)


async def test_aggregator_combines_at_threshold(schemes: list[ConsensusScheme], store: NodeStore,
                                                metrics: NodeMetrics) -> None:
    in_tx, in_rx = trio.open_memory_channel[PartialSigned](8)
    out_tx, out_rx = trio.open_memory_channel[AggregateReady](8)
    steps_tx, _steps_rx = trio.open_memory_channel[StepRecorded](8)
    agg = Aggregator(partials=in_rx, outputs=[out_tx], steps=steps_tx, scheme=schemes[0],
                     store=store, metrics=metrics)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(agg.run)
        async with in_tx:
            await in_tx.send(partial(schemes[1], root=OTHER))  # a lone wrong-root partial
            for scheme in schemes:
                await in_tx.send(partial(scheme))
    (ready,) = [a async for a in out_rx]
    assert ready.members == (1, 2, 3)
    assert ready.final_root == ROOT
    msg = schemes[0].signing_message(epoch=Epoch(1), block_number=BlockNumber(1),
                                     final_root=ROOT)
    assert schemes[3].verify_group(msg, ready.signature)
    assert store.aggregates_since(1)[0].signature == ready.signature


async def test_exchange_counts_bad_input_and_writes_evidence(
        tmp_path: Path, schemes: list[ConsensusScheme], store: NodeStore, metrics: NodeMetrics,
        autojump_clock: MockClock) -> None:
    network = FakeNetwork(delay=0.01)
    peers = {PeerIdStr(f"p{i}"): MemberIndex(i) for i in (1, 2, 3, 4)}
    transport = network.add_node(PeerIdStr("p1"), allowed=list(peers))
    _own_tx, own_rx = trio.open_memory_channel[PartialSigned](8)
    out_tx, out_rx = trio.open_memory_channel[PartialSigned](32)
    steps_tx, _ = trio.open_memory_channel[StepRecorded](8)
    exchange = PartialExchange(own=own_rx, verified=out_tx, steps=steps_tx,
                               transport=transport, codec=WireCodec(), scheme=schemes[0],
                               peers=peers,
                               store=store, metrics=metrics, topic="t",
                               evidence_dir=tmp_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(network.run)
        await nursery.start(exchange.run)
        good = wire.encode(wire.PartialMessage.from_fact(partial(schemes[1])))
        forged = partial(schemes[2])
        bad_sig = wire.encode(wire.PartialMessage.from_fact(
            PartialSigned(forged.block_number, ROOT, forged.epoch, MemberIndex(2),
                          forged.signature)))
        await exchange.on_peer_bytes(PeerIdStr("stranger"), good)
        await exchange.on_peer_bytes(PeerIdStr("p2"), b"\xff garbage")
        await exchange.on_peer_bytes(PeerIdStr("p2"), b"\x00" * (wire.MAX_MESSAGE_BYTES + 1))
        await exchange.on_peer_bytes(PeerIdStr("p3"), bad_sig)
        await exchange.on_peer_bytes(PeerIdStr("p2"), good)
        await exchange.on_peer_bytes(PeerIdStr("p2"), good)  # duplicate: ignored
        second = wire.encode(wire.PartialMessage.from_fact(partial(schemes[1], root=OTHER)))
        await exchange.on_peer_bytes(PeerIdStr("p2"), second)  # equivocation
        # a re-request served from the store answers with what this node holds
        want = wire.encode(wire.WantPartials(MemberIndex(4), BlockNumber(1), Epoch(1), b""))
        reply = await transport.serve(PeerIdStr("p4"), WANT_PROTOCOL, want)
        nursery.cancel_scope.cancel()
    assert metrics.value(metrics.partials_invalid, reason="non_member") == 1
    assert metrics.value(metrics.partials_invalid, reason="not_canonical") == 1
    assert metrics.value(metrics.partials_invalid, reason="too_large") == 1
    assert metrics.value(metrics.partials_invalid, reason="bad_signature") == 1
    assert metrics.value(metrics.partials_received) == 1
    assert metrics.value(metrics.equivocations) == 1
    out_tx.close()
    assert [p.member async for p in out_rx] == [2]
    ((block, epoch, member, path),) = store.evidence()
    assert (block, epoch, member) == (1, 1, 2)
    assert await trio.Path(path).exists()
    assert reply.startswith(b"\x80")  # an equivocator's partials are never relayed


async def test_exchange_rerequests_dropped_gossip(
        tmp_path: Path, schemes: list[ConsensusScheme], autojump_clock: MockClock
        ) -> None:
    network = FakeNetwork(delay=0.01, drop_rate=1.0)  # gossip never arrives
    peers = {PeerIdStr(f"p{i}"): MemberIndex(i) for i in (1, 2, 3, 4)}
    outs = []
    async with trio.open_nursery() as nursery:
        await nursery.start(network.run)
        owns = []
        for peer, index in peers.items():
            own_tx, own_rx = trio.open_memory_channel[PartialSigned](8)
            out_tx, out_rx = trio.open_memory_channel[PartialSigned](32)
            steps_tx, _ = trio.open_memory_channel[StepRecorded](8)
            ex = PartialExchange(own=own_rx, verified=out_tx, steps=steps_tx,
                                 transport=network.add_node(peer, allowed=list(peers)),
                                 codec=WireCodec(),
                                 scheme=schemes[index - 1], peers=peers,
                                 store=NodeStore.open(":memory:"),
                                 metrics=NodeMetrics(cluster="c", peer=peer), topic="t",
                                 evidence_dir=tmp_path, rerequest_after=2.0)
            await nursery.start(ex.run)
            owns.append(own_tx)
            outs.append(out_rx)
        for scheme, own_tx in zip(schemes[:3], owns, strict=False):
            await own_tx.send(partial(scheme))
        await trio.sleep(20)
        nursery.cancel_scope.cancel()
    got = []
    while True:
        try:
            got.append(outs[0].receive_nowait().member)
        except (trio.WouldBlock, trio.EndOfChannel):
            break
    assert sorted(got) == [1, 2, 3]


class FakeSender:
    """Records submissions; confirms by telling the scheduler's confirmation channel."""

    def __init__(self, chain: int) -> None:
        self.chain = RollupChainId(chain)
        self.sent: list[int] = []
        self.confirmed: set[int] = set()

    async def is_confirmed(self, block_number: BlockNumber, final_root: bytes) -> bool:
        return int(block_number) in self.confirmed

    async def submit(self, *, block_number: BlockNumber, final_root: bytes, epoch: Epoch,
                     signature: bytes) -> ConfirmationSubmitted:
        self.sent.append(int(block_number))
        return ConfirmationSubmitted(self.chain, block_number, "confirmed", b"\x01" * 32, 150_000)


async def test_scheduler_primary_sends_backups_skip(store: NodeStore, metrics: NodeMetrics,
                                                    autojump_clock: MockClock
                                                    ) -> None:
    n, chain, stagger = 4, 1, 10.0
    primary = primary_member(5, chain, n)
    assert backup_position(int(primary), int(primary), n) == 0
    senders = {}
    async with trio.open_nursery() as nursery:
        conf_txs = []
        for member in range(1, n + 1):
            agg_tx, agg_rx = trio.open_memory_channel[AggregateReady](4)
            conf_tx, conf_rx = trio.open_memory_channel[RootConfirmed](4)
            steps_tx, _ = trio.open_memory_channel[StepRecorded](64)
            sender = senders[member] = FakeSender(chain)
            sched = ConfirmationScheduler(aggregates=agg_rx, confirmations=conf_rx,
                                          steps=steps_tx, sender=sender,
                                          own_index=MemberIndex(member), n=n,
                                          store=NodeStore.open(":memory:"), metrics=metrics,
                                          stagger=stagger)
            await nursery.start(sched.run)
            await agg_tx.send(AggregateReady(BlockNumber(5), ROOT, Epoch(1), b"s", ()))
            conf_txs.append(conf_tx)
        await trio.sleep(stagger / 2)
        assert [m for m, s in senders.items() if s.sent] == [primary]
        for conf_tx in conf_txs:  # the primary's confirmation reaches everyone
            await conf_tx.send(RootConfirmed(RollupChainId(chain), BlockNumber(5), ROOT,
                                             Epoch(1), b"", 1))
        await trio.sleep(stagger * n * 3)
        nursery.cancel_scope.cancel()
    assert sum(len(s.sent) for s in senders.values()) == 1


async def test_scheduler_backup_takes_over(store: NodeStore, metrics: NodeMetrics,
                                           autojump_clock: MockClock) -> None:
    n, chain = 4, 2
    primary = int(primary_member(9, chain, n))
    backup = primary % n + 1
    sender = FakeSender(chain)
    agg_tx, agg_rx = trio.open_memory_channel[AggregateReady](4)
    _conf_tx, conf_rx = trio.open_memory_channel[RootConfirmed](4)
    steps_tx, _ = trio.open_memory_channel[StepRecorded](64)
    sched = ConfirmationScheduler(aggregates=agg_rx, confirmations=conf_rx, steps=steps_tx,
                                  sender=sender, own_index=MemberIndex(backup), n=n,
                                  store=store, metrics=metrics, stagger=10.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(sched.run)
        await agg_tx.send(AggregateReady(BlockNumber(9), ROOT, Epoch(1), b"s", ()))
        await trio.sleep(9.0)
        assert sender.sent == []
        await trio.sleep(2.0)
        assert sender.sent == [9]
        nursery.cancel_scope.cancel()
    assert store.submission_status(chain, 9) == "confirmed"
    assert metrics.value(metrics.gas_used, chain=chain) == 150_000


def test_tracker_one_reason_per_missed_block(metrics: NodeMetrics) -> None:
    rx = trio.open_memory_channel[StepRecorded](1)[1]
    tracker = Tracker(steps=rx, chains=[RollupChainId(1), RollupChainId(2)], metrics=metrics,
                      deadline=60.0)
    record = tracker.record
    record(StepRecorded(BlockNumber(1), "observed", True, 0.0))
    for step, at in (("verified", 0.1), ("signed", 0.2), ("aggregated", 0.5)):
        record(StepRecorded(BlockNumber(1), step, True, at))
    record(StepRecorded(BlockNumber(1), "confirmed", True, 3.0, chain=RollupChainId(1)))
    record(StepRecorded(BlockNumber(1), "confirmed", True, 4.0, chain=RollupChainId(2)))
    record(StepRecorded(BlockNumber(2), "observed", True, 1.0))
    record(StepRecorded(BlockNumber(2), "verified", False, 1.1, "roots_differ"))
    record(StepRecorded(BlockNumber(3), "observed", True, 2.0))
    record(StepRecorded(BlockNumber(3), "verified", True, 2.1))
    assert tracker.check_deadlines(30.0) == []
    assert tracker.check_deadlines(100.0) == [(2, "verified:roots_differ"), (3, "not_signed")]
    assert tracker.check_deadlines(200.0) == []
    assert tracker.traces[1].outcome == "done"
    assert tracker.traces[1].latency("confirmed") == 4.0
    assert metrics.value(metrics.block_failures, reason="not_signed") == 1
