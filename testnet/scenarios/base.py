"""What every scenario shares: its result (named checks), a runner around ``run_cluster``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from testnet.harness.cluster import Cluster
from testnet.harness.errors import HarnessError
from testnet.harness.options import DEFAULT_CIRCUIT, UpOptions
from testnet.harness.procs import kill_unfinished
from testnet.harness.runner import run_cluster
from testnet.sequencer.eventlog import read_events


@dataclass
class ScenarioResult:
    """Named checks (each passed or not, with a detail) and what the scenario did."""

    name: str
    actions: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    run_dir: str = ""

    def check(self, what: str, passed: bool, detail: str = "") -> None:
        """Record one check."""
        self.checks.append((what, bool(passed), detail))

    @property
    def ok(self) -> bool:
        """True iff there was at least one check and every check passed."""
        return bool(self.checks) and all(p for _, p, _ in self.checks)

    def print(self, console: Console) -> None:
        """Print actions and checks."""
        for action in self.actions:
            console.print(f"[cyan]did:[/] {action}")
        table = Table(title=f"scenario {self.name}: {'PASS' if self.ok else 'FAIL'}")
        for col in ("check", "result", "detail"):
            table.add_column(col)
        for what, passed, detail in self.checks:
            table.add_row(what, "[green]ok" if passed else "[red]FAILED", detail[:120])
        console.print(table)
        if self.run_dir:
            console.print(f"run directory: {self.run_dir}")

    def save(self) -> None:
        """Write ``scenario.json`` into the run directory (if the cluster started)."""
        if self.run_dir:
            (Path(self.run_dir) / "scenario.json").write_text(
                json.dumps(self.to_json(), indent=2) + "\n")

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON-able dict."""
        return {"name": self.name, "ok": self.ok, "actions": self.actions,
                "checks": [{"check": c, "ok": p, "detail": d} for c, p, d in self.checks],
                "run_dir": self.run_dir}


Hook = Callable[[Cluster], None]


def run_with_hooks(result: ScenarioResult, options: UpOptions, console: Console, *,
                   on_started: Hook | None = None, on_tick: Hook | None = None
                   ) -> tuple[int, dict[str, Any] | None, Cluster | None]:
    """Run a cluster for the scenario and apply the common invariant checks."""
    code, summary, cluster = run_cluster(options, console=console, on_started=on_started,
                                         on_tick=on_tick)
    result.summary = summary
    if cluster is not None:
        result.run_dir = str(cluster.run_dir)
    blocks = options.blocks or 0
    if summary is None:
        result.check("cluster started", False, "see the run directory logs")
        return code, summary, cluster
    result.check(f"all {blocks} blocks confirmed and executed on every chain",
                 summary["executed_everywhere"] >= blocks,
                 f"executed everywhere: {summary['executed_everywhere']}; "
                 f"failures: {summary['failures']}")
    result.check("nothing wrong was ever confirmed", not summary["wrong_confirmations"],
                 str(summary["wrong_confirmations"]))
    return code, summary, cluster


def scenario_options(*, run_dir: Path | None, circuit: tuple[int, int] | None, signing: str,
                     **overrides: Any) -> UpOptions:
    """Small, fast defaults for scenarios (2 chains, 4 nodes, t=3, 3 blocks, no live view).

    Scenarios keep ``keys="dealer"`` (TRUSTED DEALER, labelled in every output) unless they
    override it: ``byzantine`` signs with t - 1 members' dealt shares and ``rotation``
    compares against the dealt group key (``cluster.signers``)."""
    base: dict[str, Any] = dict(chains=2, nodes=4, threshold=3, blocks=3,
                                circuit=circuit or DEFAULT_CIRCUIT, run_dir=run_dir,
                                signing=signing, live=False, timeout=400.0, keys="dealer")
    base.update(overrides)
    return UpOptions(**base)


TOOL_TIMEOUT_S = 120.0
"""How long one ``oracle-gov``/``oracle-node`` tool run of a scenario may take."""


def run_tools(tool: str, argvs: list[list[str]], *, gov_key: str) -> list[str]:
    """Run ``argvs`` (each a command of ``tool``) at once with ``ORACLE_GOV_KEY=gov_key``;
    their stdouts in order, HarnessError if one failed (the others are then stopped)."""
    env = dict(os.environ, ORACLE_GOV_KEY=gov_key, COLUMNS="200")
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for argv in argvs]
    outs = []
    try:
        for argv, proc in zip(argvs, procs, strict=True):
            out, err = proc.communicate(timeout=TOOL_TIMEOUT_S)
            if proc.returncode != 0:
                step = next((a for a in argv[3:] if not a.startswith("-")), "?")
                raise HarnessError(f"{tool} {step} exited {proc.returncode}: "
                                   f"{(err or out)[-300:]}")
            outs.append(out)
    finally:
        kill_unfinished(procs)
    return outs


def gov_commands(*commands: list[str], key: str) -> list[str]:
    """Run ``oracle-gov ARGS`` (this interpreter) for each argument list at once, sending with
    ``key``; their stdouts in order (see :func:`run_tools`)."""
    return run_tools("oracle-gov", [[sys.executable, "-c",
                                     "from deploy.gov_cli import main; main()", *args]
                                    for args in commands], gov_key=key)


def sequencer_events(cluster: Cluster | None, name: str) -> list[dict[str, Any]]:
    """The sequencer's events called ``name``."""
    if cluster is None:
        return []
    return [e for e in read_events(cluster.run_dir / "sequencer" / "events.jsonl")
            if e["event"] == name]


def harness_events(cluster: Cluster | None, name: str) -> list[dict[str, Any]]:
    """The harness's own events (fallback signer refusals and confirmations) called ``name``."""
    if cluster is None:
        return []
    return [e for e in read_events(cluster.run_dir / "harness-events.jsonl")
            if e["event"] == name]
