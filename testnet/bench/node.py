"""Node pipeline bench: per-block latency, CPU per node, messages per block (in-process).

Runs the in-process cluster (``testnet.sim``: real pipeline, real BLS, real transactions
over fake chains and a fake network with 5–50 ms one-way delay) on the **wall clock** for
n = 4, 7, 16. Latency of a block = from the moment the last chain mined its ``BlockProven``
to the moment every chain's gate holds the confirmation. It includes the watcher's finality
rule (1 confirmation at a 0.2 s block time), the poll interval (0.1 s) and the confirmation
transaction's inclusion (next block), i.e. ~0.5 s of chain time per block; the pipeline
itself (re-derive, sign, gossip, combine) is the rest. All n nodes share one process on a
2-core machine, so CPU figures are the process's CPU time divided by n and by blocks.

Without ``--quick`` it adds ``real`` rows (:func:`run_real`): n = 4 ``oracle-node run``
processes over real anvil chains through ``testnet.harness`` (read-only use of its public
``run_cluster``/``probe_node``), latency from each node's own ``/status`` trace (its
``observed`` step to ``confirmed`` on every chain), once with the harness's poll interval and
once with 0.1 s; newHeads wake-ups (``ws = true``) whenever ``oracle_node.app`` wires them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

from oracle_node.app import Timing
from testnet.bench.e2e import ProcSampler
from testnet.bench.report import BenchReport, percentile
from testnet.harness.view import probe_node
from testnet.sim.cluster import SimCluster, SimConfig, open_cluster

BLOCK_GAP = 1.0
"""Seconds between the sequencer's blocks."""


async def _measure(cluster: SimCluster, blocks: int) -> list[float]:
    latencies: list[float] = []
    for _ in range(blocks):
        heads = {c: chain.head for c, chain in cluster.chains.items()}
        result = cluster.sequencer.next_block()
        while any(chain.head <= heads[c] for c, chain in cluster.chains.items()):
            await trio.sleep(0.002)
        proved_at = time.perf_counter()
        with trio.fail_after(60):
            while not cluster.confirmed_everywhere(result.block_number):
                await trio.sleep(0.002)
        latencies.append(time.perf_counter() - proved_at)
        await trio.sleep(BLOCK_GAP)
    return latencies


def run_cluster(n: int, blocks: int, *, batch_verify: bool = True,
                new_heads: bool = True) -> dict[str, float]:
    """One wall-clock run; returns the measured figures."""
    config = SimConfig(
        n=n, seed=n, miner_interval=0.2, batch_verify=batch_verify, new_heads=new_heads,
        timing=Timing(rerequest_after=1.0, request_timeout=1.0, stagger=1.0, deadline=60.0,
                      poll_interval=0.1))
    out: dict[str, float] = {}

    async def main() -> None:
        async with open_cluster(config) as cluster:
            await trio.sleep(0.5)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            sent0 = cluster.network.stats["sent"]
            latencies = await _measure(cluster, blocks)
            cpu = time.process_time() - cpu0
            wall = time.perf_counter() - wall0
            out["p50"] = percentile(latencies, 50)
            out["p99"] = percentile(latencies, 99)
            out["cpu_per_node_per_block"] = cpu / n / blocks
            out["cpu_share_per_node"] = cpu / wall / n
            out["messages_per_block"] = (cluster.network.stats["sent"] - sent0) / blocks
            out["confirm_tx_per_block"] = sum(
                sum(c.confirmations.values()) for c in cluster.contracts.values()) / blocks
            nodes = [node.deps.metrics for node in cluster.nodes.values()]
            out["batches_per_node_per_block"] = sum(
                m.value(m.partial_batches, outcome=o) for m in nodes
                for o in ("ok", "fallback")) / len(nodes) / blocks
            out["received_per_node_per_block"] = sum(
                m.value(m.partials_received) for m in nodes) / len(nodes) / blocks

    trio.run(main)
    return out


# -- real processes: n = 4 `oracle-node run` over real anvil chains (testnet.harness) ------
REAL_STEPS = ("verified", "signed", "aggregated", "submitted", "confirmed")
"""Steps of a node's ``/status`` block trace, in seconds from its ``observed`` step."""


@dataclass
class TraceSampler:
    """On every harness tick: keeps each node's newest ``/status`` trace of every block."""

    traces: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    cpu: ProcSampler = field(default_factory=ProcSampler)

    def __call__(self, cluster: Any) -> None:
        """Probe every live node (harness hook ``on_tick``)."""
        self.cpu(cluster)
        for node in cluster.nodes:
            if not node.alive():
                continue
            body = probe_node(node.status_url)
            for trace in body.get("blocks", []) if isinstance(body, dict) else []:
                if isinstance(trace, dict) and isinstance(trace.get("block"), int):
                    self.traces[(node.index, trace["block"])] = trace

    def done(self, first_block: int) -> list[dict[str, Any]]:
        """Every finished trace of a block >= ``first_block``."""
        return [t for (_, b), t in sorted(self.traces.items())
                if b >= first_block and t.get("outcome") == "done"]


def step_latencies(traces: list[dict[str, Any]], step: str) -> list[float]:
    """The ``step`` latency (seconds from ``observed``) of every trace that has it."""
    out = []
    for trace in traces:
        latency = trace.get("steps", {}).get(step, {}).get("latency")
        if isinstance(latency, int | float):
            out.append(float(latency))
    return out


def _metric_total(url: str | None, name: str) -> float:
    """Sum of one counter's samples on a node's ``/metrics`` (0 when unreachable)."""
    if url is None:
        return 0.0
    try:
        text = httpx.get(url.removesuffix("/status") + "/metrics", timeout=1.0).text
    except httpx.HTTPError:
        return 0.0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def run_real(blocks: int, *, poll_interval: float | None = None, ws: bool = False,
             nodes: int = 4, chains: int = 2) -> dict[str, Any]:
    """Run a real cluster for ``blocks`` blocks (+1 warm-up); the node-measured figures.

    ``poll_interval`` overrides the harness's node ``timing.poll_interval``; ``ws`` sets
    ``ws = true`` on every ``[[chains]]`` (newHeads wake-ups; anvil serves ws on its port).
    """
    from rich.console import Console

    from testnet.harness.options import UpOptions
    from testnet.harness.runner import run_cluster as run_real_cluster

    sampler = TraceSampler()
    sent: dict[int, float] = {}
    produced: list[int] = []

    def extra(_cluster: Any, _index: int) -> dict[str, dict[str, object]]:
        tables: dict[str, dict[str, object]] = {}
        if poll_interval is not None:
            tables["timing"] = {"poll_interval": poll_interval}
        if ws:
            tables["chains"] = {"ws": True}
        return tables

    def tick(cluster: Any) -> None:
        sampler(cluster)
        last = [t for t in sampler.done(blocks + 1) if t["block"] == blocks + 1]
        if len(last) >= nodes and not sent:  # the last block is done on every node
            produced.append(max(b for _, b in sampler.traces))
            for node in cluster.nodes:
                sent[node.index] = _metric_total(node.status_url,
                                                 "oracle_partials_sent_total")

    def stop(_cluster: Any) -> bool:
        return len(sent) >= nodes

    options = UpOptions(chains=chains, nodes=nodes, threshold=2 * ((nodes - 1) // 3) + 1,
                        blocks=None, live=False, timeout=900, stop_when=stop,
                        node_config_extra=extra)
    code, summary, _ = run_real_cluster(options, console=Console(quiet=True), on_tick=tick)
    traces = sampler.done(2)
    out: dict[str, Any] = {"code": code, "traces": len(traces),
                           "failures": (summary or {}).get("failures", [])}
    for step in REAL_STEPS:
        values = step_latencies(traces, step)
        if values:
            out[f"{step}_p50"] = percentile(values, 50)
            out[f"{step}_p99"] = percentile(values, 99)
    wall = (summary or {}).get("timings_s", {}).get("wall")
    if sampler.cpu.cpu_s and wall:
        out["cpu_share_per_node"] = sum(sampler.cpu.cpu_s.values()) / len(
            sampler.cpu.cpu_s) / wall
    if sent and produced:
        out["partials_sent_per_block"] = sum(sent.values()) / produced[0]
    return out


def run(report: BenchReport, *, quick: bool) -> None:
    """Add the node rows for n = 4, 7, 16 (n = 4 only with ``quick``), then the real rows
    (not with ``quick``: each real run starts a whole testnet, ~2.5 min).

    n = 16 runs twice: with batch verification of peer partials (the default) and without
    (``mode`` ``in-process, one-by-one``), back to back under the same machine load.
    """
    runs = ([(4, True, True), (4, True, False)] if quick else
            [(4, True, True), (4, True, False), (7, True, True), (16, False, True),
             (16, True, True)])
    blocks = 5 if quick else 20
    for n, batch, heads in runs:
        figures = run_cluster(n, blocks, batch_verify=batch, new_heads=heads)
        mode = "in-process" if batch else "in-process, one-by-one"
        params: dict[str, Any] = {"n": n, "t": 2 * ((n - 1) // 3) + 1, "chains": 2,
                                  "blocks": blocks,
                                  "mode": mode if heads else f"{mode}, polling only"}
        report.add("block latency p50 (last proved -> confirmed on all chains)",
                   figures["p50"] * 1000, "ms", **params)
        report.add("block latency p99", figures["p99"] * 1000, "ms", **params)
        report.add("CPU per node per block", figures["cpu_per_node_per_block"] * 1000,
                   "ms", **params)
        report.add("CPU share per node (of one core)", figures["cpu_share_per_node"] * 100,
                   "%", **params)
        report.add("gossip messages per block (all nodes)", figures["messages_per_block"],
                   "msgs", **params)
        report.add("FinalRootConfirmed events per block (all chains)",
                   figures["confirm_tx_per_block"], "events", **params)
        report.add("peer partials accepted per node per block",
                   figures["received_per_node_per_block"], "partials", **params)
        report.add("batch verifications per node per block",
                   figures["batches_per_node_per_block"], "checks", **params)
    if not quick:
        for poll in REAL_POLLS:
            _real_rows(report, poll)
        report.note("real rows: 4 oracle-node processes, 2 anvil chains (automine), sequencer "
                    "and prover on the same 2 cores; latency from each node's /status trace "
                    "(observed -> confirmed on every chain), block 1 excluded")
    report.note("wall clock, one process on this machine; latency includes fake-chain time "
                "(0.2 s blocks, 1 confirmation, inclusion of the confirmation); watchers wake "
                "on each mined block like with chains[].ws, 'polling only' rows poll every "
                "0.1 s instead; messages counted by the fake network (one per delivery)")


REAL_BLOCKS = 8
"""Measured blocks per real run (after one warm-up block)."""
REAL_POLLS: tuple[float | None, ...] = (None, 0.1)
"""Real runs: the harness's own ``timing.poll_interval`` (0.5 s), then 0.1 s (loopback)."""


def _real_rows(report: BenchReport, poll: float | None) -> None:
    """One real n = 4 run (``run_real``) as rows; ``ws`` when ``oracle_node.app`` wires it."""
    from dataclasses import fields

    from oracle_node.app import ChainWiring

    ws = "ws_url" in {f.name for f in fields(ChainWiring)}
    figures = run_real(REAL_BLOCKS, poll_interval=poll, ws=ws)
    mode = (f"real, poll {poll if poll is not None else 'harness (0.5)'} s"
            f"{', ws newHeads' if ws else ''}")
    params: dict[str, Any] = {"n": 4, "t": 3, "chains": 2, "blocks": REAL_BLOCKS, "mode": mode}
    if figures["code"] != 0 or "confirmed_p50" not in figures:
        report.note(f"{mode}: run failed: {figures['failures']}")
        return
    report.add("block latency p50 (last proved -> confirmed on all chains)",
               figures["confirmed_p50"] * 1000, "ms", target="<= 250 ms", **params)
    report.add("block latency p99", figures["confirmed_p99"] * 1000, "ms",
               target="<= 1000 ms", **params)
    for step in REAL_STEPS[:-1]:
        if f"{step}_p50" in figures:
            report.add(f"{step} p50 (node trace, from observed)",
                       figures[f"{step}_p50"] * 1000, "ms", **params)
    if "cpu_share_per_node" in figures:
        report.add("CPU share per node (of one core)", figures["cpu_share_per_node"] * 100,
                   "%", extra={"note": "whole run, start-up included"}, **params)
    if "partials_sent_per_block" in figures:
        report.add("partial messages sent per block (all nodes)",
                   figures["partials_sent_per_block"], "msgs", **params)
