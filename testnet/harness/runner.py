"""Run a cluster to completion: start it, show live progress, stop, write the summary."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.live import Live

from oracle_node.errors import OracleNodeError
from testnet.harness.cluster import Cluster
from testnet.harness.options import UpOptions
from testnet.harness.view import NodeProbe, probe_node, render
from testnet.sequencer.eventlog import EventTail
from testnet.web.server import StatusServer

Hook = Callable[[Cluster], None]


MONITOR_PERIOD = 0.05
"""Seconds between the monitor's event polls (the resolution of the latency figures)."""

def _node_rows(cluster: Cluster) -> list[tuple[NodeProbe, dict[str, Any]]]:
    rows = []
    for node in cluster.nodes:
        probe = NodeProbe(node.index, node.status_url, node.alive())
        body = probe_node(node.status_url) if probe.alive else {"error": "exited"}
        cluster.node_status[node.index] = body
        rows.append((probe, body))
    return rows


def _failures(cluster: Cluster, tail: EventTail, seen: list[str]) -> list[str]:
    """Failures so far: sequencer errors (``seen`` accumulates them), exited nodes.

    Traffic errors (a deposit that failed) are notes, not failures: blocks go on without it.
    """
    for event in tail.new_events():
        if event["event"] == "error" and event.get("where") == "traffic":
            cluster.notes.append(f"traffic error: {event.get('error', '')}"[:200])
        elif event["event"] in ("error", "prove_rejected") and not _expected(cluster, event):
            seen.append(f"sequencer {event['event']}: {event.get('error', '')}"[:300])
    out = list(seen)
    for node in cluster.nodes:
        if not node.alive() and not node.stopped_on_purpose:
            out.append(f"node {node.index} exited with {node.returncode()}")
    return out


def _expected(cluster: Cluster, event: dict[str, Any]) -> bool:
    """A rejected proof of the dishonest block in ``wrong-root`` mode is the point of it."""
    return (cluster.options.mode == "wrong-root" and event["event"] == "prove_rejected"
            and event.get("block") == cluster.options.dishonest_block)


def run_cluster(options: UpOptions, *, console: Console | None = None,
                on_started: Hook | None = None, on_tick: Hook | None = None
                ) -> tuple[int, dict[str, Any] | None, Cluster | None]:
    """Start a cluster and run it until ``options.blocks`` are executed on every chain.

    Returns (exit code, summary, cluster). Exit code 0 only if every block was confirmed and
    executed on every chain and nothing wrong was confirmed. Without ``blocks`` it runs until
    Ctrl-C. Every process is stopped on return unless ``options.keep``.
    """
    console = console or Console()
    started = time.monotonic()
    cluster: Cluster | None = None
    web: StatusServer | None = None
    failures: list[str] = []
    ok = False
    try:
        cluster = Cluster(options, console=console)
        cluster.start()
        web = StatusServer(cluster.snapshot, port=options.web_port or 0)
        console.print(f"status page: {web.url}")
        if on_started is not None:
            on_started(cluster)
        ok, failures = _watch(cluster, options, console, on_tick)
    except KeyboardInterrupt:
        failures.append("interrupted (Ctrl-C)")
        console.print("[yellow]interrupted; stopping every process")
    except OracleNodeError as err:
        failures.append(f"{type(err).__name__}: {err}")
        console.print(f"[red]failed: {type(err).__name__}: {err}")
    except Exception as err:  # the harness must still stop everything and write the summary
        failures.append(f"unexpected {type(err).__name__}: {err}")
        console.print_exception()
    if web is not None:
        web.close()
    summary = None
    if cluster is not None:
        if cluster.monitor is not None:
            cluster.monitor.poll()
            summary = cluster.write_summary(options.summary, started=started, ok=ok,
                                            failures=failures)
        interrupted = any(f.startswith("interrupted") for f in failures)
        if options.keep and cluster.monitor is not None and not interrupted:
            cluster.supervisor.detach()
            cluster.state.kept = True
            cluster.state.save()
            console.print(f"cluster left running (--keep); stop it with "
                          f"`oracle-testnet down --run-dir {cluster.run_dir}`")
        cluster.stop()
        console.print(f"run directory: {cluster.run_dir}  signing path: {cluster.signing_path}")
    return (0 if ok else 1), summary, cluster


def _watch(cluster: Cluster, options: UpOptions, console: Console,
           on_tick: Hook | None) -> tuple[bool, list[str]]:
    monitor = cluster.monitor
    assert monitor is not None
    deadline = time.monotonic() + options.timeout
    title = (f"oracle-testnet: {options.chains} chains, {options.nodes} nodes, "
             f"t={options.threshold}, circuit d={options.circuit[0]},k={options.circuit[1]}")
    first_confirm: float | None = None
    tail = EventTail(cluster.run_dir / "sequencer" / "events.jsonl")
    seen: list[str] = []
    with Live(console=console, refresh_per_second=2, transient=False,
              auto_refresh=options.live) as live:
        while True:
            monitor.poll()
            if on_tick is not None:
                on_tick(cluster)
            if first_confirm is None and monitor.confirmed_everywhere() >= 1:
                first_confirm = time.monotonic()
                cluster.timings["first_confirmed_s"] = first_confirm - cluster.t0
            if options.live:
                live.update(render(monitor, _node_rows(cluster), title=title,
                                   signing_path=cluster.signing_path,
                                   target_blocks=options.blocks, notes=cluster.notes))
            failures = _failures(cluster, tail, seen)
            if monitor.wrong_confirmations():
                return False, [*failures, f"wrong root confirmed: {monitor.wrong_confirmations()}"]
            if options.blocks is not None and monitor.executed_everywhere() >= options.blocks:
                return not failures, failures
            if options.stop_when is not None and options.stop_when(cluster):
                return not failures, failures
            if not cluster.sequencer_alive():
                monitor.poll()
                if options.blocks is not None and monitor.executed_everywhere() >= options.blocks:
                    return not failures, failures
                return False, [*failures,
                               "the sequencer exited early (see sequencer/sequencer.log)"]
            gate_missing = cluster.deployed is not None and not cluster.deployed.has_gate
            proven = min((v.highest["proven"] for v in monitor.views), default=0)
            if gate_missing and options.blocks is not None and proven >= options.blocks:
                return False, [*failures, "the main contract has no oracle gate: blocks were "
                               "proved everywhere but cannot be confirmed"]
            if time.monotonic() > deadline:
                return False, [*failures, f"timeout after {options.timeout:.0f}s"]
            # The view refreshes every 0.25 s, but events are stamped every MONITOR_PERIOD:
            # confirmations now land within ~0.25 s of the proof, which a 0.25 s poll quantises.
            for _ in range(round(0.25 / MONITOR_PERIOD)):
                time.sleep(MONITOR_PERIOD)
                monitor.poll()
