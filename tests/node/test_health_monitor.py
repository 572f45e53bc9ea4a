"""HealthMonitor: readiness reasons and chain heads from one refresh (trio virtual time)."""

from __future__ import annotations

from typing import cast

import pytest
import trio
from trio.testing import MockClock

from oracle_node.health import HealthMonitor, HealthState
from oracle_node.metrics import NodeMetrics
from oracle_node.ports import ChainRpc, Transport
from oracle_node.store.db import NodeStore
from oracle_node.types import PeerIdStr, RollupChainId


class _HangingRpc:
    """An RPC endpoint that accepts the request and never answers."""

    async def block_number(self) -> int:
        await trio.sleep_forever()
        raise AssertionError("unreachable")


class _AnsweringRpc:
    async def block_number(self) -> int:
        return 7


class _NoPeers:
    def connected_peers(self) -> list[PeerIdStr]:
        return []


async def test_refresh_reads_heads_concurrently_and_names_unreachable_chains(
        autojump_clock: MockClock, store: NodeStore, metrics: NodeMetrics) -> None:
    state = HealthState(interval=5.0)
    chains = {RollupChainId(1): cast(ChainRpc, _HangingRpc()),
              RollupChainId(2): cast(ChainRpc, _HangingRpc()),
              RollupChainId(3): cast(ChainRpc, _AnsweringRpc())}
    monitor = HealthMonitor(state=state, metrics=metrics, transport=cast(Transport, _NoPeers()),
                            chains=chains, store=store, threshold=1, rpc_timeout=3.0)
    start = trio.current_time()
    await monitor.refresh()
    # one timeout for all hanging chains (sequential reads would take 6 s of trio time and,
    # with more chains, outlast the 3-interval liveness window)
    assert trio.current_time() - start == pytest.approx(3.0)
    assert state.ready() == (False, ["chain_unreachable:1", "chain_unreachable:2"])
    assert state.status()["chain_heads"] == {"1": None, "2": None, "3": 7}
    assert metrics.value(metrics.chain_head, chain=3) == 7
