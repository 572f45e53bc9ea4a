"""The summary JSON of ``oracle-testnet up --blocks K --summary FILE``.

Fields (docs/testnet.md): ``ok``, ``signing_path``, ``trusted_dealer``, ``chains``, ``nodes``,
``threshold``, ``circuit``, ``blocks_target``, ``executed_everywhere``, ``blocks`` (per block:
``latency_s`` from the last chain's BlockProven to FinalRootConfirmed on all chains,
``confirmed_on``, ``executed_on``, ``final_roots_agree``, ``confirm_gas``), ``latency_s``
(p50/p99/max), ``gas`` (sequencer gas per call kind, confirmation gas), ``failures``,
``wrong_confirmations``, ``sequencer_events`` (counts), ``timings_s``, ``notes``.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testnet.bench.report import percentile as bench_percentile
from testnet.sequencer.eventlog import read_events

if TYPE_CHECKING:
    from testnet.harness.cluster import Cluster


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when empty."""
    return bench_percentile(values, q) if values else None


def sequencer_gas(events: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Gas per sequencer call kind: count, total, mean."""
    out: dict[str, dict[str, float]] = {}
    for event in events:
        if "gas" in event and isinstance(event["gas"], int):
            kind = event["event"]
            slot = out.setdefault(kind, {"count": 0, "total": 0})
            slot["count"] += 1
            slot["total"] += event["gas"]
    for slot in out.values():
        slot["mean"] = slot["total"] / slot["count"] if slot["count"] else 0
    return out


def build_summary(cluster: Cluster, *, started: float, ok: bool,
                  failures: list[str]) -> dict[str, Any]:
    """Assemble the summary document from the monitor, the event logs and the cluster."""
    monitor = cluster.monitor
    assert monitor is not None
    top = max((v.highest["committed"] for v in monitor.views), default=0)
    records = [monitor.record(n) for n in range(1, top + 1)]
    latencies = [r.latency_s for r in records if r.latency_s is not None]
    steady = [r.latency_s for r in records if r.latency_s is not None and r.block_number > 1]
    seq_events = read_events(Path(cluster.run_dir) / "sequencer" / "events.jsonl")
    counts: dict[str, int] = {}
    for event in seq_events:
        counts[event["event"]] = counts.get(event["event"], 0) + 1
    confirm_gas = [g for r in records for g in r.confirm_gas.values()]
    return {
        "ok": ok,
        "signing_path": cluster.signing_path,
        "keys_path": cluster.options.keys,
        "trusted_dealer": cluster.options.keys == "dealer",
        "trusted_dealer_note": ("key shares dealt by the harness, not by a DKG (testnet only)"
                                if cluster.options.keys == "dealer" else None),
        "dkg": None if cluster.dkg is None else cluster.dkg.describe(),
        # True whenever the harness holds every share: the dealer, or the fallback signer.
        "harness_knows_shares": (cluster.options.keys == "dealer"
                                 or cluster.signing_path == "harness-fallback"),
        "run_dir": str(cluster.run_dir),
        "chains": len(monitor.views),
        "nodes": cluster.options.nodes,
        "threshold": cluster.options.threshold,
        "circuit": {"depth": cluster.options.circuit[0], "capacity": cluster.options.circuit[1]},
        "network_id": cluster.network_id,
        "blocks_target": cluster.options.blocks,
        "executed_everywhere": monitor.executed_everywhere(),
        "confirmed_everywhere": monitor.confirmed_everywhere(),
        "blocks": [asdict(r) for r in records],
        "latency_s": {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
                      "max": max(latencies) if latencies else None, "n": len(latencies)},
        # Block 1 is usually proved while the nodes are still starting; without it:
        "latency_s_after_block_1": {"p50": percentile(steady, 50),
                                    "p99": percentile(steady, 99), "n": len(steady)},
        "gas": {"sequencer": sequencer_gas(seq_events),
                "confirm_final_root": {"n": len(confirm_gas),
                                       "mean": statistics.fmean(confirm_gas)
                                       if confirm_gas else None}},
        "failures": failures,
        "wrong_confirmations": monitor.wrong_confirmations(),
        "sequencer_events": counts,
        "timings_s": {**cluster.timings, "wall": time.monotonic() - started},
        "notes": cluster.notes,
    }
