"""System: the in-process cluster with every member on a real py-libp2p host (wall clock)."""

from __future__ import annotations

import pytest
import trio

from oracle_node.app import Timing
from testnet.sim.cluster import SimConfig, open_cluster


@pytest.mark.system
async def test_cluster_over_real_libp2p() -> None:
    config = SimConfig(n=4, real_p2p=True, byzantine={4: "equivocate"}, miner_interval=0.2,
                       timing=Timing(rerequest_after=1.0, request_timeout=2.0, stagger=2.0,
                                     deadline=60.0, poll_interval=0.1))
    with trio.fail_after(120):
        async with open_cluster(config) as cluster:
            await cluster.produce(3, interval=0.5)
            assert await cluster.wait_confirmed(3, timeout=60)
            await trio.sleep(1.0)
            for contract in cluster.contracts.values():
                assert all(count == 1 for count in contract.confirmations.values())
            for node in cluster.honest_running():
                assert {member for _, _, member, _ in node.deps.store.evidence()} == {4}
                m = node.deps.metrics
                assert m.value(m.partials_received) >= 2 * 3
