"""Node pipeline bench: per-block latency, CPU per node, messages per block (in-process).

Runs the in-process cluster (``testnet.sim``: real pipeline, real BLS, real transactions
over fake chains and a fake network with 5–50 ms one-way delay) on the **wall clock** for
n = 4, 7, 16. Latency of a block = from the moment the last chain mined its ``BlockProven``
to the moment every chain's gate holds the confirmation. It includes the watcher's finality
rule (1 confirmation at a 0.2 s block time), the poll interval (0.1 s) and the confirmation
transaction's inclusion (next block), i.e. ~0.5 s of chain time per block; the pipeline
itself (re-derive, sign, gossip, combine) is the rest. All n nodes share one process on a
2-core machine, so CPU figures are the process's CPU time divided by n and by blocks.
"""

from __future__ import annotations

import time
from typing import Any

import trio

from oracle_node.app import Timing
from testnet.bench.report import BenchReport, percentile
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


def run_cluster(n: int, blocks: int, *, batch_verify: bool = True) -> dict[str, float]:
    """One wall-clock run; returns the measured figures."""
    config = SimConfig(
        n=n, seed=n, miner_interval=0.2, batch_verify=batch_verify,
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


def run(report: BenchReport, *, quick: bool) -> None:
    """Add the node rows for n = 4, 7, 16 (n = 4 only with ``quick``).

    n = 16 runs twice: with batch verification of peer partials (the default) and without
    (``mode`` ``in-process, one-by-one``), back to back under the same machine load.
    """
    runs = [(4, True)] if quick else [(4, True), (7, True), (16, False), (16, True)]
    blocks = 5 if quick else 20
    for n, batch in runs:
        figures = run_cluster(n, blocks, batch_verify=batch)
        params: dict[str, Any] = {"n": n, "t": 2 * ((n - 1) // 3) + 1, "chains": 2,
                                  "blocks": blocks,
                                  "mode": "in-process" if batch else "in-process, one-by-one"}
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
    report.note("wall clock, one process on this machine; latency includes ~0.5 s of fake-chain "
                "time (0.2 s blocks, 1 confirmation, 0.1 s polling, inclusion of the "
                "confirmation); messages counted by the fake network (one per delivery)")
