"""The `byzantine` scenario with real oracle-node processes: a colluding minority's forged
signature over a wrong root is rejected on every chain, and honest blocks keep executing."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from testnet.harness.nodes import node_unavailable_reason
from testnet.harness.rundir import ClusterState
from testnet.scenarios import run_scenario

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.timeout(420)]


def test_byzantine_minority_cannot_confirm_a_wrong_root(tmp_path: Path) -> None:
    reason = node_unavailable_reason()
    if reason is not None:
        pytest.skip(f"needs oracle-node processes: {reason}")
    run_dir = tmp_path / "run"
    with (tmp_path / "console.txt").open("w") as sink:
        quiet = Console(file=sink, width=200)
        assert run_scenario("byzantine", console=quiet, run_dir=run_dir, signing="nodes")
    state = ClusterState.load(run_dir)
    assert state.signing_path == "nodes"
    report = (tmp_path / "console.txt").read_text()
    assert "rejected" in report
