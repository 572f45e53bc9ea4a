"""One ``MetricsSink`` port for the p2p and chain adapters, and where each sink counts."""

from __future__ import annotations

import trio
from trio.testing import MockClock

from oracle_node.metrics import CountingMetrics, NodeMetrics
from oracle_node.p2p.common import EV_GOSSIP_REJECTED, R_NOT_MEMBER
from oracle_node.p2p.fake import open_fake_network
from oracle_node.ports import MetricsSink, discard_metrics
from oracle_node.types import PeerIdStr


def count_into(sink: MetricsSink) -> None:
    """The two call shapes the adapters use."""
    sink("gossip_rejected", "not_member")
    sink("rpc_error", "timeout", 3)


def test_every_sink_takes_both_call_shapes() -> None:
    counting = CountingMetrics()
    metrics = NodeMetrics(cluster="c", peer="p")
    for sink in (counting, metrics.p2p_sink, metrics.chain_sink(5), discard_metrics):
        count_into(sink)
    assert counting.get("gossip_rejected", "not_member") == 1
    assert counting.total("rpc_error") == 3
    assert metrics.value(metrics.p2p_events, event="gossip_rejected", reason="not_member") == 1
    assert metrics.value(metrics.p2p_events, event="rpc_error", reason="timeout") == 3
    assert metrics.value(metrics.chain_events, chain=5, event="rpc_error", reason="timeout") == 3
    assert metrics.value(metrics.chain_events, chain=4, event="rpc_error", reason="timeout") == 0


async def test_fake_transport_counts_a_rejection_into_prometheus(
        autojump_clock: MockClock) -> None:
    metrics = NodeMetrics(cluster="c", peer="a")
    async with open_fake_network() as net:
        members = [PeerIdStr("a"), PeerIdStr("b")]
        node = net.add_node(members[0], allowed=members, metrics=metrics.p2p_sink)
        outsider = net.add_node(PeerIdStr("x"), allowed=members)
        await node.subscribe("t")
        await outsider.publish("t", b"hi")
        await trio.sleep(0.1)
    assert metrics.value(metrics.p2p_events, event=EV_GOSSIP_REJECTED, reason=R_NOT_MEMBER) == 1
