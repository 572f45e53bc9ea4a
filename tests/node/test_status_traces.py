"""``/status`` block traces from the tracker, and ``oracle-node status`` printing them."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import trio
from trio.testing import MockClock
from typer.testing import CliRunner

from oracle_node.app import status_extra
from oracle_node.cli import app
from oracle_node.health import HealthMonitor, HealthState, serve_http
from oracle_node.metrics import NodeMetrics
from oracle_node.pipeline.messages import StepRecorded
from oracle_node.pipeline.tracker import Tracker
from oracle_node.types import BlockNumber, RollupChainId
from testnet.sim.cluster import SimConfig, open_cluster

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "node" / "node.example.toml"


def get_json(url: str) -> Any:
    """One blocking GET (the server runs in its own thread)."""
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def test_trace_summary_names_the_failure(metrics: NodeMetrics) -> None:
    _tx, rx = trio.open_memory_channel[StepRecorded](1)
    tracker = Tracker(steps=rx, chains=[RollupChainId(1), RollupChainId(2)], metrics=metrics,
                      deadline=10.0)
    tracker.record(StepRecorded(BlockNumber(7), "observed", True, 100.0))
    tracker.record(StepRecorded(BlockNumber(7), "verified", True, 100.25))
    tracker.record(StepRecorded(BlockNumber(8), "observed", True, 101.0))
    tracker.record(StepRecorded(BlockNumber(8), "verified", False, 101.5, "roots_differ"))
    (_pending_8, pending_7) = tracker.recent()
    assert pending_7["waiting_for"] == "signed"
    assert pending_7["steps"]["verified"] == {"status": "ok", "latency": 0.25, "reason": None}
    assert pending_7["steps"]["signed"]["status"] == "pending"
    assert tracker.check_deadlines(112.0) == [(7, "not_signed"), (8, "verified:roots_differ")]
    failed_8, _ = tracker.recent()
    assert failed_8["outcome"] == "failed"
    assert failed_8["failure"] == "verified:roots_differ"
    assert failed_8["steps"]["verified"] == {"status": "failed", "latency": None,
                                             "reason": "roots_differ"}
    assert len(tracker.recent(limit=1)) == 1


async def test_status_serves_block_traces_and_cli_prints_them(
        autojump_clock: MockClock) -> None:
    async with open_cluster(SimConfig(n=4, seed=43)) as cluster:
        await cluster.produce(2)
        assert await cluster.wait_confirmed(2, timeout=120)
        await trio.sleep(5)  # the node's watchers see the confirmations after finality
        deps = cluster.nodes[1].deps
        state = HealthState(interval=1.0)
        monitor = HealthMonitor(state=state, metrics=deps.metrics, transport=deps.transport,
                                chains={c.chain: c.rpc for c in deps.chains}, store=deps.store,
                                threshold=3, extra=lambda: status_extra(deps))
        await monitor.refresh()
        server = serve_http(state, deps.metrics, "127.0.0.1", 0)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            doc = get_json(f"{base}/status")
            result = CliRunner().invoke(app, ["status", "--config", str(EXAMPLE),
                                              "--url", base])
        finally:
            server.shutdown()
            server.server_close()
    blocks = doc["blocks"]
    assert [b["block"] for b in blocks][:2] == [2, 1]
    for trace in blocks[:2]:
        assert trace["outcome"] == "done"
        assert trace["failure"] is None
        latencies = [trace["steps"][s]["latency"] for s in
                     ("observed", "verified", "signed", "aggregated", "confirmed")]
        assert latencies == sorted(latencies)
        assert set(trace["steps"]["confirmed"]["chains"]) == {"1", "2"}
    assert result.exit_code == 0, result.output
    assert "recent blocks" in result.output
    assert " ms" in result.output
    assert "done" in result.output
