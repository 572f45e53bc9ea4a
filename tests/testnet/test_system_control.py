"""System test of ``up --keep`` then ``status``, ``logs`` and ``down`` through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testnet.harness.rundir import ClusterState

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.timeout(300)]


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    code = ("import sys; from testnet.cli import main; "
            "sys.argv = ['oracle-testnet', *sys.argv[1:]]; main()")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, COLUMNS="200"))


def _running(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_keep_status_logs_down(tmp_path: Path) -> None:
    run = tmp_path / "run"
    up = _cli("up", "--blocks", "1", "--circuit", "8,2", "--signing", "harness", "--keep",
              "--timeout", "120", "--run-dir", str(run))
    state = ClusterState.load(run)
    try:
        assert state.kept, up.stdout[-2000:] + up.stderr[-2000:]
        assert state.signing_path == "harness-fallback"
        assert "HARNESS FALLBACK" in up.stdout
        assert "TRUSTED DEALER" in up.stdout
        names = {p.name for p in state.processes}
        assert {"anvil-1", "anvil-2", "sequencer"} <= names
        assert all(_running(p.pid) for p in state.processes if p.name.startswith("anvil"))
        status = _cli("status", "--run-dir", str(run), timeout=60)
        assert status.returncode == 0, status.stderr
        assert "anvil-1" in status.stdout
        assert "committed" in status.stdout
        logs = _cli("logs", "sequencer", "--run-dir", str(run), timeout=60)
        assert logs.returncode == 0
        assert "sequencer.log" in logs.stdout
        assert _cli("logs", "node-9", "--run-dir", str(run), timeout=60).returncode == 1
    finally:
        down = _cli("down", "--run-dir", str(run), timeout=60)
    assert down.returncode == 0, down.stderr
    assert not any(_running(p.pid) for p in ClusterState.load(run).processes)
    assert not ClusterState.load(run).kept
