"""``down``, ``status`` and ``logs`` for a cluster left running with ``up --keep``."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.table import Table

from testnet.harness.errors import HarnessError
from testnet.harness.monitor import ChainMonitor
from testnet.harness.procs import group_alive, kill_group
from testnet.harness.rundir import ClusterState


def stop_cluster(run_dir: Path) -> list[str]:
    """Stop every recorded process (reverse start order); return the names that were running."""
    state = ClusterState.load(run_dir)
    stopped = [p.name for p in reversed(state.processes) if kill_group(p.pid)]
    state.kept = False
    state.save()
    return stopped


def cluster_status(run_dir: Path) -> Group:
    """A table of processes and, if the chains answer, each chain's progress."""
    state = ClusterState.load(run_dir)
    procs = Table(title=f"cluster {run_dir} (signing path: {state.signing_path or '-'})")
    for col in ("process", "pid", "running", "ports", "log"):
        procs.add_column(col)
    for p in state.processes:
        procs.add_row(p.name, str(p.pid), "yes" if group_alive(p.pid) else "no",
                      ", ".join(f"{k}={v}" for k, v in p.ports.items()), p.log)
    chains = Table(title="chains")
    for col in ("rollup chain", "rpc", "committed", "proved", "confirmed", "executed", "error"):
        chains.add_column(col)
    monitor = ChainMonitor([(c["rollup_chain_id"], c["rpc_url"], c["main"])
                            for c in state.chains])
    try:
        monitor.poll()
    finally:
        monitor.close()
    for v in monitor.views:
        h = v.highest
        chains.add_row(str(v.chain_id), v.url, str(h["committed"]), str(h["proven"]),
                       str(h["confirmed"]), str(h["executed"]), v.error[:40])
    return Group(procs, chains)


def log_path(run_dir: Path, name: str) -> Path:
    """The log file of ``name`` (``3`` means ``node-3``); raise HarnessError if unknown."""
    state = ClusterState.load(run_dir)
    wanted = f"node-{name}" if name.isdigit() else name
    if wanted == "harness":
        return run_dir / "harness-events.jsonl"
    for p in state.processes:
        if p.name == wanted:
            return Path(p.log)
    names = ", ".join(p.name for p in state.processes)
    raise HarnessError(f"no process {wanted!r} in {run_dir}; known: {names}")
