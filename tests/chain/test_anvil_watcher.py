"""Watcher against real anvil chains: deep reorg, a 30 s RPC outage, a killed anvil."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from oracle_node.chain.cursor import MemoryCursorStore, SqliteCursorStore
from oracle_node.chain.events import ChainFact
from oracle_node.chain.pool import MultiRpc, RetryPolicy
from oracle_node.chain.rpc import HttpTransport, RpcClient
from oracle_node.chain.watcher import FinalityRule, Watcher
from oracle_node.chain.ws import NewHeadsSubscriber
from oracle_node.metrics import CountingMetrics
from oracle_node.pipeline.messages import EventRetracted, PriorityRequestQueued, RootProven
from oracle_node.types import RollupChainId
from testnet.anvil import anvil_chain, start_anvil

from .anvil_kit import TcpProxy, deploy, deposit, mine, prove

pytestmark = pytest.mark.system


async def blocking(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking setup call off the trio thread."""
    return await trio.to_thread.run_sync(lambda: fn(*args))


def multi(url: str, metrics: CountingMetrics) -> tuple[MultiRpc, HttpTransport]:
    transport = HttpTransport(url)
    rpc = MultiRpc([RpcClient(transport, name="anvil", timeout=1.0)], metrics=metrics,
                   retry=RetryPolicy(attempts=2, base_delay=0.1, max_delay=0.5))
    return rpc, transport


def watcher_for(rpc: MultiRpc, contract: str, store: Any, metrics: CountingMetrics,
                confirmations: int = 2) -> tuple[Watcher, trio.MemoryReceiveChannel[ChainFact]]:
    send, recv = trio.open_memory_channel[ChainFact](100)
    watcher = Watcher(chain=RollupChainId(1), rpc=rpc, contract=contract, out=send,
                      cursor_store=store, finality=FinalityRule(confirmations=confirmations),
                      poll_interval=0.2, metrics=metrics)
    return watcher, recv


async def take(recv: trio.MemoryReceiveChannel[ChainFact], count: int, within: float = 20
               ) -> list[ChainFact]:
    with trio.fail_after(within):
        return [await recv.receive() for _ in range(count)]


async def test_deep_reorg_on_anvil_is_retracted_and_replaced() -> None:
    metrics = CountingMetrics()
    with anvil_chain(chain_id=1101) as chain:
        contract = await blocking(deploy, chain)
        rpc, transport = multi(chain.rpc_url, metrics)
        watcher, recv = watcher_for(rpc, contract, MemoryCursorStore(), metrics)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watcher.run)
            await blocking(prove, chain, contract, 1)
            await blocking(mine, chain, 3)
            snapshot = await blocking(chain.rpc, "evm_snapshot")
            await blocking(prove, chain, contract, 2)
            await blocking(mine, chain, 3)
            first = await take(recv, 2)
            assert [f.block_number for f in first if isinstance(f, RootProven)] == [1, 2]
            await blocking(chain.rpc, "evm_revert", [snapshot])  # drops 4 blocks > 2 confs
            await blocking(prove, chain, contract, 3, 7)
            await blocking(mine, chain, 5)
            retracted, replaced = await take(recv, 2)
            nursery.cancel_scope.cancel()
        await transport.aclose()
    assert isinstance(retracted, EventRetracted)
    assert (retracted.kind, retracted.block_number) == ("BlockProven", 2)
    assert isinstance(replaced, RootProven)
    assert (replaced.block_number, replaced.final_root) == (3, b"\x07" * 32)
    assert metrics.counts[("watcher_retracted", "BlockProven")] == 1


async def test_rpc_outage_of_30s_then_catch_up_without_gaps_or_duplicates() -> None:
    metrics = CountingMetrics()
    with anvil_chain(chain_id=1102) as chain:
        contract = await blocking(deploy, chain)
        proxy = TcpProxy(chain.port)
        async with trio.open_nursery() as nursery:
            await nursery.start(proxy.run)
            rpc, transport = multi(proxy.url, metrics)
            watcher, recv = watcher_for(rpc, contract, MemoryCursorStore(), metrics, 1)
            nursery.start_soon(watcher.run)
            for serial in (1, 2, 3):
                await blocking(deposit, chain, contract, serial)
            await blocking(mine, chain, 2)
            seen = [f.serial_id for f in await take(recv, 3)
                    if isinstance(f, PriorityRequestQueued)]
            await proxy.set_cut(True)
            for serial in range(4, 14):  # 10 deposits during a real 30 s outage
                await blocking(deposit, chain, contract, serial)
                await trio.sleep(3)
            await proxy.set_cut(False)
            await blocking(mine, chain, 2)
            seen += [f.serial_id for f in await take(recv, 10, within=30)
                     if isinstance(f, PriorityRequestQueued)]
            await trio.sleep(2)
            extra = []
            while True:
                try:
                    extra.append(recv.receive_nowait())
                except trio.WouldBlock:
                    break
            nursery.cancel_scope.cancel()
        await transport.aclose()
    assert seen == list(range(1, 14))
    assert extra == []
    assert metrics.counts[("rpc_error", "timeout")] + metrics.counts[("rpc_error", "transport")] > 0


async def test_killed_and_restarted_anvil_resumes_from_the_cursor(tmp_path: Path) -> None:
    metrics = CountingMetrics()
    state = tmp_path / "state.json"
    args = ["--state", str(state), "--state-interval", "1"]
    chain = await blocking(lambda: start_anvil(chain_id=1103, state_dir=tmp_path / "a",
                                               extra_args=args))
    store = SqliteCursorStore(tmp_path / "cursor.db")
    try:
        contract = await blocking(deploy, chain)
        rpc, transport = multi(chain.rpc_url, metrics)
        watcher, recv = watcher_for(rpc, contract, store, metrics, 1)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watcher.run)
            for serial in (1, 2):
                await blocking(deposit, chain, contract, serial)
            await blocking(mine, chain, 2)
            facts = await take(recv, 2)
            await trio.sleep(2.5)  # let --state-interval dump the state
            os.kill(chain.process.pid, signal.SIGKILL)
            await blocking(chain.process.wait)
            await trio.sleep(2)  # the watcher polls a dead endpoint meanwhile
            chain = await blocking(lambda: start_anvil(
                chain_id=1103, port=chain.port, state_dir=tmp_path / "a", extra_args=args))
            await blocking(deposit, chain, contract, 3)
            await blocking(mine, chain, 2)
            facts += await take(recv, 1)
            await trio.sleep(1)
            with pytest.raises(trio.WouldBlock):
                recv.receive_nowait()
            nursery.cancel_scope.cancel()
        await transport.aclose()
    finally:
        chain.stop()
        store.close()
    assert [f.serial_id for f in facts if isinstance(f, PriorityRequestQueued)] == [1, 2, 3]
    assert metrics.total("watcher_poll_error") > 0
    assert metrics.counts[("rpc_error", "transport")] > 0


async def test_new_heads_subscription_wakes_the_watcher() -> None:
    metrics = CountingMetrics()
    wake_send, wake_recv = trio.open_memory_channel[int](4)
    with anvil_chain(chain_id=1104) as chain:
        contract = await blocking(deploy, chain)
        rpc, transport = multi(chain.rpc_url, metrics)
        send, recv = trio.open_memory_channel[ChainFact](10)
        watcher = Watcher(chain=RollupChainId(1), rpc=rpc, contract=contract, out=send,
                          cursor_store=MemoryCursorStore(),
                          finality=FinalityRule(confirmations=0), poll_interval=3600,
                          metrics=metrics, wake=wake_recv)
        subscriber = NewHeadsSubscriber(url=chain.ws_url, wake=wake_send, metrics=metrics)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(subscriber.run)
            nursery.start_soon(watcher.run)
            await trio.sleep(0.5)  # the first poll is done; the next one needs a wake-up
            await blocking(prove, chain, contract, 1)
            fact = (await take(recv, 1, within=10))[0]
            nursery.cancel_scope.cancel()
        await transport.aclose()
    assert isinstance(fact, RootProven)
    assert fact.block_number == 1
