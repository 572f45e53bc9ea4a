"""Signer, exchange, aggregator, scheduler and tracker driven through their channels."""

from __future__ import annotations

from pathlib import Path

import pytest
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


async def test_backup_does_not_send_an_aggregate_whose_epoch_was_handed_over(
        store: NodeStore, metrics: NodeMetrics, autojump_clock: MockClock) -> None:
    n, chain = 4, 2
    primary = int(primary_member(9, chain, n))
    backup = primary % n + 1
    sender = FakeSender(chain)
    current = {"epoch": 1}

    async def is_current(agg: AggregateReady) -> bool:
        return agg.epoch == current["epoch"]

    agg_tx, agg_rx = trio.open_memory_channel[AggregateReady](4)
    _conf_tx, conf_rx = trio.open_memory_channel[RootConfirmed](4)
    steps_tx, _ = trio.open_memory_channel[StepRecorded](64)
    sched = ConfirmationScheduler(aggregates=agg_rx, confirmations=conf_rx, steps=steps_tx,
                                  sender=sender, own_index=MemberIndex(backup), n=n,
                                  store=store, metrics=metrics, stagger=10.0,
                                  is_current=is_current)
    async with trio.open_nursery() as nursery:
        await nursery.start(sched.run)
        await agg_tx.send(AggregateReady(BlockNumber(9), ROOT, Epoch(1), b"s", ()))
        await trio.sleep(5.0)
        current["epoch"] = 2  # the handover landed while the backup waited its turn
        await trio.sleep(60.0)
        nursery.cancel_scope.cancel()
    assert sender.sent == []
    assert store.submission_status(chain, 9) == "superseded"
    assert metrics.value(metrics.submissions, chain=chain, status="superseded") == 1


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


def test_config_ws_key_enables_new_heads_wake_ups() -> None:
    from oracle_node.config import ws_url_for
    from oracle_node.errors import ConfigError

    http = ("http://127.0.0.1:8545", "https://rpc.example")
    assert ws_url_for(None, http, "chains[0].") is None
    assert ws_url_for(False, http, "chains[0].") is None
    assert ws_url_for(True, http, "chains[0].") == "ws://127.0.0.1:8545"
    assert ws_url_for(True, ("https://rpc.example",), "c.") == "wss://rpc.example"
    assert ws_url_for("wss://x.example/ws", http, "c.") == "wss://x.example/ws"
    for bad in ("http://x", 1, "ws:/x"):
        with pytest.raises(ConfigError, match=r"^chains\[0\]\.ws:"):
            ws_url_for(bad, http, "chains[0].")


async def test_submitter_sender_reuses_a_fresh_not_confirmed_answer(
        schemes: list[ConsensusScheme], autojump_clock: MockClock) -> None:
    from eth_abi.abi import encode as abi_encode
    from eth_account import Account

    from deploy.bindings import IS_CONFIRMED_SIGNATURE, selector
    from oracle_node.chain.fake import ContractResult, FakeChain
    from oracle_node.chain.ledger import NonceLedger
    from oracle_node.chain.submitter import FeePolicy, Submitter
    from oracle_node.pipeline.senders import (
        FINAL_ROOT_CONFIRMED_TOPIC,
        SubmitterConfirmationSender,
    )

    gate = "0x" + "ab" * 20
    asked: list[int] = []
    """Blocks asked by ``isConfirmed``, in order."""
    confirmed: set[int] = set()

    def handler(_sender: str, data: bytes, _value: int) -> ContractResult:
        block = int.from_bytes(data[4:36], "big")
        if data[:4] == selector(IS_CONFIRMED_SIGNATURE):
            asked.append(block)
            return ContractResult(abi_encode(["bool"], [block in confirmed]))
        confirmed.add(block)
        return ContractResult(abi_encode(["bool"], [True]), [(
            [FINAL_ROOT_CONFIRMED_TOPIC, block.to_bytes(32, "big")], b"\x00" * 96)])

    class MarkingChain(FakeChain):
        async def send_raw_transaction(self, raw: bytes) -> bytes:
            asked.append(0)  # 0 marks "the transaction went out"
            return await super().send_raw_transaction(raw)

    chain = MarkingChain()
    chain.register_contract(gate, handler)
    account = Account.from_key(b"\x07" * 32)
    submitter = Submitter(rpc=chain, account=account, chain_id=31337,
                          ledger=NonceLedger(":memory:", account=account.address,
                                             chain_id=31337),
                          fees=FeePolicy(receipt_poll=0.05))
    sender = SubmitterConfirmationSender(chain=RollupChainId(1), rpc=chain, contract=gate,
                                         submitter=submitter)
    signature = schemes[0].sign_own(b"message")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(chain.run_miner, 0.2)
        await sender.start()
        for block in (1, 2):  # the scheduler's order: isConfirmed, then submit
            assert not await sender.is_confirmed(BlockNumber(block), ROOT)
            if block == 2:
                await trio.sleep(1.0)  # a stale answer: the Submitter asks again
            outcome = await sender.submit(block_number=BlockNumber(block), final_root=ROOT,
                                          epoch=Epoch(1), signature=signature)
            assert outcome.status == "confirmed", outcome
        nursery.cancel_scope.cancel()
    # Before each send: block 1 asked once (the fresh answer served the Submitter's check),
    # block 2 twice (its answer was a second old). Checks while waiting come after the send.
    first, second = asked.index(0), len(asked) - 1 - asked[::-1].index(0)
    assert asked[:first] == [1]
    assert [b for b in asked[first + 1:second] if b != 1] == [2, 2]


async def test_aggregator_retry_after_a_failed_combination_uses_exactly_t(
        schemes: list[ConsensusScheme], store: NodeStore, metrics: NodeMetrics) -> None:
    in_tx, in_rx = trio.open_memory_channel[PartialSigned](8)
    out_tx, out_rx = trio.open_memory_channel[AggregateReady](8)
    steps_tx, _steps_rx = trio.open_memory_channel[StepRecorded](8)
    agg = Aggregator(partials=in_rx, outputs=[out_tx], steps=steps_tx, scheme=schemes[0],
                     store=store, metrics=metrics)
    bad = partial(schemes[3], root=OTHER)  # member 4's partial over another root
    async with trio.open_nursery() as nursery:
        nursery.start_soon(agg.run)
        async with in_tx:
            await in_tx.send(partial(schemes[1]))
            await in_tx.send(partial(schemes[2]))
            await in_tx.send(PartialSigned(BlockNumber(1), ROOT, Epoch(1), bad.member,
                                           bad.signature))  # completes t=3: fails the check
            # member 1 sorts among the lowest: the retry must still combine t partials
            await in_tx.send(partial(schemes[0]))
    (ready,) = [a async for a in out_rx]
    assert metrics.value(metrics.aggregate_failures) == 1
    assert ready.members == (1, 2, 3)
    msg = schemes[0].signing_message(epoch=Epoch(1), block_number=BlockNumber(1),
                                     final_root=ROOT)
    assert schemes[0].verify_group(msg, ready.signature)
