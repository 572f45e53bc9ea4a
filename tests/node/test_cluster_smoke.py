"""Smoke: a 4-node in-process cluster confirms blocks on both chains."""

from __future__ import annotations

from trio.testing import MockClock

from testnet.sim.cluster import SimConfig, open_cluster


async def test_n4_confirms(autojump_clock: MockClock) -> None:
    async with open_cluster(SimConfig(n=4)) as cluster:
        await cluster.produce(3)
        assert await cluster.wait_confirmed(3, timeout=120)
        for contract in cluster.contracts.values():
            assert contract.rejected == {}, contract.rejected
