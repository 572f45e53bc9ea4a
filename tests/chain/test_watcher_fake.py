"""Watcher against the in-memory fake chain, under trio's MockClock (autojump)."""

from __future__ import annotations

from pathlib import Path

import trio

from oracle_node.chain.cursor import MemoryCursorStore, SqliteCursorStore
from oracle_node.chain.events import ChainFact, encode_event
from oracle_node.chain.fake import FakeChain, Faults
from oracle_node.chain.pool import MultiRpc, RetryPolicy
from oracle_node.chain.watcher import FinalityRule, Watcher
from oracle_node.metrics import CountingMetrics
from oracle_node.pipeline.messages import (
    BlockCommitted,
    EventRetracted,
    PriorityRequestQueued,
    RootConfirmed,
    RootProven,
)
from oracle_node.ports import ChainRpc
from oracle_node.types import RollupChainId

from .helpers import CONTRACT, OWNER, emit_deposit, emit_proven

CHAIN = RollupChainId(1)


async def run_for(watcher: Watcher, seconds: float) -> None:
    """Run ``watcher`` for ``seconds`` of (mock) time."""
    with trio.move_on_after(seconds):
        await watcher.run()


def drain(recv: trio.MemoryReceiveChannel[ChainFact]) -> list[ChainFact]:
    """Everything currently buffered."""
    out = []
    while True:
        try:
            out.append(recv.receive_nowait())
        except trio.WouldBlock:
            return out


def make(rpc: ChainRpc, store: MemoryCursorStore | SqliteCursorStore | None = None,
         confirmations: int = 3, metrics: CountingMetrics | None = None
         ) -> tuple[Watcher, trio.MemoryReceiveChannel[ChainFact]]:
    send, recv = trio.open_memory_channel[ChainFact](1000)
    watcher = Watcher(chain=CHAIN, rpc=rpc, contract=CONTRACT, out=send,
                      cursor_store=store or MemoryCursorStore(),
                      finality=FinalityRule(confirmations=confirmations), poll_interval=1.0,
                      max_range=7, metrics=metrics or CountingMetrics())
    return watcher, recv


async def test_every_event_kind_is_decoded_in_chain_order(autojump_clock: trio.abc.Clock
                                                          ) -> None:
    chain = FakeChain()
    emit_deposit(chain, 1)
    topics, data = encode_event("FullExitQueued", (2, OWNER), (7, 1, 99))
    chain.emit(CONTRACT, topics, data)
    chain.mine()
    topics, data = encode_event("BlockCommitted", (1,), (b"\x01" * 32, b"\x02" * 32, b"\x03" * 32,
                                                         b"pubdata", [b"\x04" * 32, b"\x05" * 32]))
    chain.emit(CONTRACT, topics, data)
    emit_proven(chain, 1)
    topics, data = encode_event("FinalRootConfirmed", (1, OWNER), (b"\x09" * 32, 1))
    chain.emit(CONTRACT, topics, data)
    chain.emit("0x" + "dd" * 20, topics, data)  # another contract: filtered out
    chain.mine(4)
    watcher, recv = make(chain)
    await run_for(watcher, 3)
    facts = drain(recv)
    assert [type(f) for f in facts] == [PriorityRequestQueued, PriorityRequestQueued,
                                        BlockCommitted, RootProven, RootConfirmed]
    dep, exit_, committed, proven, confirmed = facts
    assert isinstance(dep, PriorityRequestQueued)
    assert dep.kind == "deposit"
    assert dep.amount == 10**18
    assert dep.owner == bytes.fromhex(OWNER[2:])
    assert isinstance(exit_, PriorityRequestQueued)
    assert exit_.account_id == 7
    assert isinstance(committed, BlockCommitted)
    assert committed.pubdata == b"pubdata"
    assert committed.ops_hashes == (b"\x04" * 32, b"\x05" * 32)
    assert isinstance(proven, RootProven)
    assert proven.final_root == b"\x01" * 32
    assert proven.l1_block_hash == chain.blocks[2].hash
    assert isinstance(confirmed, RootConfirmed)
    assert confirmed.epoch == 1


async def test_shallow_reorg_never_reaches_output(autojump_clock: trio.abc.Clock) -> None:
    chain = FakeChain()
    emit_proven(chain, 1)
    chain.mine()
    emit_proven(chain, 2)
    chain.mine(2)
    watcher, recv = make(chain, confirmations=3)
    await run_for(watcher, 3)
    assert drain(recv) == []  # block 2 holds BlockProven(2): not yet final
    chain.reorg(2)  # drops blocks 2..3 (the proven event), head becomes 4
    chain.mine(5)
    await run_for(watcher, 3)
    facts = drain(recv)
    assert [f.block_number for f in facts if isinstance(f, RootProven)] == [1]


async def test_deep_reorg_retracts_and_reemits(autojump_clock: trio.abc.Clock) -> None:
    chain = FakeChain()
    metrics = CountingMetrics()
    chain.mine(3)
    emit_proven(chain, 1)
    chain.mine()
    emit_proven(chain, 2)
    chain.mine(4)
    watcher, recv = make(chain, confirmations=2, metrics=metrics)
    await run_for(watcher, 3)
    first = drain(recv)
    assert [f.block_number for f in first if isinstance(f, RootProven)] == [1, 2]
    chain.reorg(4)  # removes block 5 (BlockProven 2), deeper than 2 confirmations
    emit_proven(chain, 2, root_byte=7)
    chain.mine(3)
    await run_for(watcher, 3)
    facts = drain(recv)
    assert isinstance(facts[0], EventRetracted)
    assert facts[0].block_number == 2
    assert facts[0].kind == "BlockProven"
    assert isinstance(first[1], RootProven)
    assert facts[0].l1_block_hash == first[1].l1_block_hash
    proven = [f for f in facts if isinstance(f, RootProven)]
    assert [(p.block_number, p.final_root[0]) for p in proven] == [(2, 7)]
    assert metrics.counts[("watcher_retracted", "BlockProven")] == 1


async def test_outage_then_restart_catches_up_without_gaps_or_duplicates(
        autojump_clock: trio.abc.Clock, tmp_path: Path) -> None:
    chain = FakeChain()
    faults = Faults()
    metrics = CountingMetrics()
    rpc = MultiRpc([chain.endpoint("a", faults, timeout=2.0)], metrics=metrics,
                   retry=RetryPolicy(attempts=2))
    store = SqliteCursorStore(tmp_path / "cursor.db")
    watcher, recv = make(rpc, store=store, metrics=metrics)
    serial = 0
    seen: list[int] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watcher.run)
        for step in range(60):
            if step == 10:
                faults.down = True  # a 30 s outage of the only endpoint
            if step == 40:
                faults.down = False
            serial += 1
            emit_deposit(chain, serial)
            chain.mine()
            await trio.sleep(1.0)
        chain.mine(5)
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    seen += [f.serial_id for f in drain(recv) if isinstance(f, PriorityRequestQueued)]
    assert metrics.counts[("rpc_error", "timeout")] > 0
    # restart from the persisted cursor with new events in the meantime
    for _ in range(5):
        serial += 1
        emit_deposit(chain, serial)
        chain.mine()
    chain.mine(5)
    store.close()
    store = SqliteCursorStore(tmp_path / "cursor.db")
    watcher, recv = make(chain.endpoint("b"), store=store)
    await run_for(watcher, 3)
    seen += [f.serial_id for f in drain(recv) if isinstance(f, PriorityRequestQueued)]
    assert seen == list(range(1, serial + 1))
    store.close()


async def test_malformed_answers_are_counted_and_survived(autojump_clock: trio.abc.Clock) -> None:
    chain = FakeChain()
    metrics = CountingMetrics()
    faults = Faults(malformed=5)
    rpc = MultiRpc([chain.endpoint("bad", faults), chain.endpoint("good")], metrics=metrics)
    emit_proven(chain, 1)
    chain.emit(CONTRACT, [encode_event("BlockProven", (2,), (b"\x00" * 32, b"\x00" * 32))[0][0]],
               b"\x01")  # wrong topic count and truncated data
    chain.mine(5)
    watcher, recv = make(rpc, metrics=metrics)
    await run_for(watcher, 5)
    facts = drain(recv)
    assert [f.block_number for f in facts if isinstance(f, RootProven)] == [1]
    assert metrics.counts[("rpc_error", "malformed")] >= 1
    assert metrics.counts[("watcher_drop", "malformed_log")] == 1


async def test_lying_endpoint_is_outvoted_by_quorum(autojump_clock: trio.abc.Clock) -> None:
    chain = FakeChain()
    metrics = CountingMetrics()
    liar = Faults(lie_logs=True, head_offset=50, lie_hashes=True)
    rpc = MultiRpc([chain.endpoint("liar", liar), chain.endpoint("b"), chain.endpoint("c")],
                   quorum=2, metrics=metrics)
    emit_proven(chain, 1)
    chain.mine(5)
    watcher, recv = make(rpc, metrics=metrics)
    await run_for(watcher, 3)
    facts = drain(recv)
    assert len(facts) == 1
    assert isinstance(facts[0], RootProven)
    assert facts[0].final_root == b"\x01" * 32
    assert facts[0].l1_block_hash == chain.blocks[1].hash
    assert watcher.cursor.height == chain.head - 3  # the lied head did not move finality
    assert rpc.health["liar"].disagreements > 0
    assert metrics.counts[("rpc_disagreement", "logs")] > 0


async def test_wake_polls_at_once_coalesces_and_survives_a_closed_channel(
        autojump_clock: trio.abc.Clock) -> None:
    chain = FakeChain()
    metrics = CountingMetrics()
    out_send, recv = trio.open_memory_channel[ChainFact](100)
    wake_send, wake_recv = trio.open_memory_channel[int](8)
    watcher = Watcher(chain=CHAIN, rpc=chain, contract=CONTRACT, out=out_send,
                      cursor_store=MemoryCursorStore(), finality=FinalityRule(confirmations=0),
                      poll_interval=10.0, metrics=metrics, wake=wake_recv)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watcher.run)
        await trio.sleep(0.5)  # first poll done; the next timed one is at t = 10 s
        emit_proven(chain, 1)
        chain.mine()
        for head in range(3):  # three heads queued before the watcher runs: one poll
            wake_send.send_nowait(head)
        await trio.sleep(0.01)
        assert [f.block_number for f in drain(recv) if isinstance(f, RootProven)] == [1]
        assert metrics.counts[("watcher_wake", "head")] == 1
        assert metrics.counts[("watcher_wake", "coalesced")] == 2
        await wake_send.aclose()  # the subscriber is gone: plain polling goes on
        await trio.sleep(0.01)
        assert metrics.counts[("watcher_wake", "closed")] == 1
        emit_proven(chain, 2)
        chain.mine()
        await trio.sleep(5)
        assert drain(recv) == []  # no wake-up: waits for the poll interval
        await trio.sleep(10)
        assert [f.block_number for f in drain(recv) if isinstance(f, RootProven)] == [2]
        nursery.cancel_scope.cancel()


async def test_fake_chain_is_a_head_feed_for_the_watcher(autojump_clock: trio.abc.Clock) -> None:
    chain = FakeChain()
    out_send, recv = trio.open_memory_channel[ChainFact](100)
    wake_send, wake_recv = trio.open_memory_channel[int](1)
    metrics = CountingMetrics()
    watcher = Watcher(chain=CHAIN, rpc=chain, contract=CONTRACT, out=out_send,
                      cursor_store=MemoryCursorStore(), finality=FinalityRule(confirmations=0),
                      poll_interval=10.0, metrics=metrics, wake=wake_recv)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(chain.feed, wake_send)
        nursery.start_soon(watcher.run)
        await trio.sleep(0.5)  # first poll done; the next timed one is at t = 10 s
        emit_proven(chain, 1)
        chain.mine()
        chain.mine()  # the channel holds one wake-up: the second is dropped, not blocking
        await trio.sleep(0.01)
        assert [f.block_number for f in drain(recv) if isinstance(f, RootProven)] == [1]
        chain.reorg(1)  # a reorg announces its new head too
        await trio.sleep(0.01)
        assert metrics.counts[("watcher_wake", "head")] == 2
        nursery.cancel_scope.cancel()
    assert chain._head_feeds == []  # the cancelled feed unsubscribed
