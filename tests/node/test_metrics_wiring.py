"""/metrics of a running in-process node: p2p, chain and pipeline series on one registry."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from trio.testing import MockClock

from oracle_node.health import HealthState, serve_http
from oracle_node.pipeline.exchange import partials_topic
from oracle_node.types import PeerIdStr
from testnet.sim.cluster import SimConfig, open_cluster


def scrape(url: str) -> str:
    """One GET (the server runs in its own thread; a short block of the loop is harmless)."""
    with urllib.request.urlopen(url, timeout=5) as answer:
        return str(answer.read().decode())


async def test_metrics_endpoint_serves_p2p_chain_and_pipeline_series(
        autojump_clock: MockClock) -> None:
    config = SimConfig(n=4, seed=41)
    async with open_cluster(config) as cluster:
        node = cluster.nodes[1]
        # An outsider (not in the lock) gossips on the cluster topic: the transport rejects it.
        intruder = cluster.network.add_node(PeerIdStr("intruder"), allowed=list(cluster.peers))
        await intruder.publish(partials_topic(config.cluster), b"\x00")
        await cluster.produce(2)
        assert await cluster.wait_confirmed(2, timeout=120)
        server = serve_http(HealthState(interval=1.0), node.deps.metrics, "127.0.0.1", 0)
        try:
            body = scrape(f"http://127.0.0.1:{server.server_address[1]}/metrics")
        finally:
            server.shutdown()
            server.server_close()
    samples = parse(body)
    me = {"cluster": "sim", "peer": str(node.peer)}
    # p2p adapter (FakeTransport's sink): deliveries and the outsider's rejected gossip
    assert samples[("oracle_p2p_events_total",
                    key(me, event="gossip_delivered", reason="ok"))] > 0
    assert samples[("oracle_p2p_events_total",
                    key(me, event="gossip_rejected", reason="not_member"))] == 1
    # chain adapters: the watcher's emitted facts and the submitter's actions, per chain
    for chain in config.chains:
        assert samples[("oracle_chain_events_total",
                        key(me, chain=str(chain), event="watcher_emitted",
                            reason="BlockProven"))] >= 2
    assert any(name == "oracle_chain_events_total" and ("event", "submitter_send") in labels
               for name, labels in samples)
    # pipeline
    assert samples[("oracle_partials_signed_total", key(me))] == 2
    assert samples[("oracle_step_latency_seconds_count", key(me, step="verified"))] == 2


def parse(body: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a text exposition, keyed by (name, label set)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def key(base: dict[str, str], **labels: str) -> frozenset[tuple[str, str]]:
    """A label set: this node's base labels plus ``labels``."""
    return frozenset({**base, **labels}.items())
