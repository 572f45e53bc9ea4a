"""The run directory of one local cluster and its small state file.

Layout (``.runs/<stamp>/`` by default, git-ignored)::

    state.json              pids, ports, urls, addresses, which signing path runs
    chains/chain-<c>/       anvil state and anvil.log, one per rollup chain id c
    deployments.json        contract addresses per chain (from the deployer)
    cluster/                cluster-definition.json (DKG) and the agreed cluster-lock.json
    nodes/node-<i>/         config.toml, keystore, data dir and node.log of member i
    sequencer/              sequencer.json (its config), sequencer.log, events.jsonl
    summary.json            written by ``up --blocks K --summary``
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from testnet.harness.errors import HarnessError

STATE_FILE = "state.json"
DEFAULT_RUNS = Path(".runs")


@dataclass
class ProcessRecord:
    """One process the harness started: name, pid (= process group), log file, ports."""

    name: str
    pid: int
    log: str
    ports: dict[str, int] = field(default_factory=dict)


@dataclass
class ClusterState:
    """Everything ``status``/``down``/``logs`` need about a running cluster."""

    run_dir: str
    created_unix: float
    chains: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    processes: list[ProcessRecord] = field(default_factory=list)
    signing_path: str = ""
    keys_path: str = ""
    """``dkg`` (the nodes ran ``oracle-node dkg``) or ``dealer`` (TRUSTED DEALER)."""
    dkg: dict[str, Any] = field(default_factory=dict)
    """After the DKG: lock hash, group key, definition and lock paths, seconds."""
    network_id: int = 0
    threshold: int = 0
    circuit: tuple[int, int] = (0, 0)
    harness_pid: int = field(default_factory=os.getpid)
    kept: bool = False

    def save(self) -> Path:
        """Write ``state.json`` atomically and return its path."""
        path = Path(self.run_dir) / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, run_dir: Path) -> ClusterState:
        """Read ``state.json`` from ``run_dir``; raise HarnessError if it is missing or bad."""
        path = run_dir / STATE_FILE
        try:
            raw = json.loads(path.read_text())
            raw["processes"] = [ProcessRecord(**p) for p in raw.get("processes", [])]
            raw["circuit"] = tuple(raw.get("circuit", (0, 0)))
            return cls(**raw)
        except (OSError, ValueError, TypeError) as err:
            raise HarnessError(f"no usable cluster state at {path}: {err}") from err


def new_run_dir(base: Path | None = None) -> Path:
    """Create a fresh ``<base>/<UTC stamp>`` folder (``.runs/`` by default)."""
    root = base if base is not None else DEFAULT_RUNS
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = root / stamp
    suffix = 0
    while path.exists():
        suffix += 1
        path = root / f"{stamp}-{suffix}"
    path.mkdir(parents=True)
    return path.resolve()


def latest_run_dir(base: Path | None = None) -> Path:
    """The most recent run directory holding a state file; raise HarnessError if none."""
    root = base if base is not None else DEFAULT_RUNS
    candidates = sorted((p for p in root.glob("*") if (p / STATE_FILE).is_file()),
                        key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise HarnessError(f"no cluster run directory under {root}/ (start one with `up --keep`)")
    return candidates[-1].resolve()
