"""Whole-testnet benchmark: blocks per minute, per-block latency, confirmation gas, node CPU and
RSS, and the start-up time of ``up`` to the first block confirmed on every chain.

Runs ``oracle-testnet up`` in-process for (chains, nodes) in {(2, 4), (3, 7)} (``--quick``:
(2, 4) only, fewer blocks). Figures are measured on whatever machine runs it; the prover
setup cache should be warm (run ``oracle-testnet up`` once) for the start-up figure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from testnet.bench.report import BenchReport
from testnet.harness.cluster import Cluster
from testnet.harness.options import UpOptions
from testnet.harness.runner import run_cluster

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class ProcSampler:
    """Samples CPU seconds and RSS of the node processes from /proc on every harness tick."""

    cpu_s: dict[int, float] = field(default_factory=dict)
    rss_max: dict[int, int] = field(default_factory=dict)

    def __call__(self, cluster: Cluster) -> None:
        """Record one sample per live node."""
        for node in cluster.nodes:
            if node.process is None or not node.alive():
                continue
            try:
                proc = Path(f"/proc/{node.process.pid}")
                stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                statm = (proc / "statm").read_text().split()
            except OSError:
                continue
            self.cpu_s[node.index] = (int(stat[11]) + int(stat[12])) / _TICK
            rss = int(statm[1]) * _PAGE
            self.rss_max[node.index] = max(self.rss_max.get(node.index, 0), rss)


def _one(report: BenchReport, chains: int, nodes: int, threshold: int, blocks: int) -> None:
    sampler = ProcSampler()
    options = UpOptions(chains=chains, nodes=nodes, threshold=threshold, blocks=blocks,
                        live=False, timeout=900)
    code, summary, cluster = run_cluster(options, console=Console(quiet=True),
                                         on_tick=sampler)
    params: dict[str, Any] = {"chains": chains, "nodes": nodes, "t": threshold, "blocks": blocks,
              "circuit": f"{options.circuit[0]},{options.circuit[1]}"}
    if summary is None or cluster is None or cluster.monitor is None:
        report.note(f"({chains},{nodes}): the cluster did not start")
        return
    params["signing_path"] = summary["signing_path"]
    params["keys"] = summary.get("keys_path", options.keys)
    if code != 0:
        report.note(f"({chains},{nodes}): not every block completed: {summary['failures']}")
    monitor = cluster.monitor
    executed = [max(v.seen_at.get(("executed", n), 0.0) for v in monitor.views)
                for n in range(1, summary["executed_everywhere"] + 1)]
    committed = [min(v.seen_at.get(("committed", 1), float("inf")) for v in monitor.views)]
    if executed and committed[0] != float("inf") and executed[-1] > committed[0]:
        report.add("blocks_per_minute", len(executed) / (executed[-1] - committed[0]) * 60,
                   "blocks/min", **params)
    lat = summary["latency_s"]
    if lat["p50"] is not None:
        report.add("latency_p50", lat["p50"], "s", **params)
        report.add("latency_p99", lat["p99"], "s", **params)
    steady = summary.get("latency_s_after_block_1", {})
    if steady.get("p50") is not None:
        report.add("latency_p50_after_block_1", steady["p50"], "s", **params)
        report.add("latency_p99_after_block_1", steady["p99"], "s", **params)
    gas = summary["gas"]["confirm_final_root"]["mean"]
    if gas is not None:
        report.add("confirm_gas_mean", gas, "gas", **params)
    wall = summary["timings_s"]["wall"]
    if sampler.cpu_s:
        report.add("node_cpu_mean", sum(sampler.cpu_s.values()) / len(sampler.cpu_s) / wall
                   * 100, "% of one core", extra={"note": "process CPU time / whole run wall "
                                                  "time, start-up included"}, **params)
        report.add("node_rss_max", max(sampler.rss_max.values()) / 2**20, "MiB", **params)
    first = summary["timings_s"].get("first_confirmed_s")
    if first is not None:
        report.add("startup_to_first_confirmed", first, "s", target="<= 90 s (2 cores, "
                   "warm setup cache)", **params)


def run(report: BenchReport, *, quick: bool) -> None:
    """Benchmark the whole testnet (see the module docstring)."""
    report.note("latency = last chain's BlockProven -> FinalRootConfirmed on every chain, as "
                "seen by the harness polling every 0.05 s; `keys` says where the key shares "
                "came from (dkg = a real DKG among the node processes)")
    _one(report, 2, 4, 3, 2 if quick else 5)
    if not quick:
        _one(report, 3, 7, 5, 5)
