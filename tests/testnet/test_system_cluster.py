"""System tests: a real local cluster (anvil chains, contracts, prover, nodes or the labelled
harness fallback signer) runs ``up`` and the two main scenarios. Each takes 1-3 minutes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from testnet.harness.nodes import node_unavailable_reason
from testnet.harness.options import UpOptions
from testnet.harness.rundir import ClusterState
from testnet.harness.runner import run_cluster
from testnet.scenarios import run_scenario

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.timeout(420)]


def _quiet() -> Console:
    return Console(width=120, quiet=True)


def test_up_confirms_and_executes_every_block_on_every_chain(tmp_path: Path) -> None:
    """``up`` with the explicit, labelled TRUSTED DEALER option (``--keys dealer``); the
    default DKG path is tests/testnet/test_system_dkg_up.py."""
    options = UpOptions(chains=2, nodes=4, threshold=3, blocks=2, run_dir=tmp_path / "run",
                        summary=tmp_path / "summary.json", live=False, timeout=300,
                        keys="dealer")
    code, summary, cluster = run_cluster(options, console=_quiet())
    assert cluster is not None
    assert summary is not None, "the cluster did not start"
    assert code == 0, summary["failures"]
    assert summary["ok"] is True
    assert summary["executed_everywhere"] >= 2
    assert summary["wrong_confirmations"] == []
    assert summary["trusted_dealer"] is True
    assert summary["keys_path"] == "dealer"
    assert any("TRUSTED DEALER" in note for note in summary["notes"])
    assert summary["signing_path"] in ("nodes", "harness-fallback")
    for block in summary["blocks"][:2]:
        assert block["confirmed_on"] == [1, 2]
        assert block["executed_on"] == [1, 2]
        assert block["final_roots_agree"] is True
        assert block["latency_s"] is not None
    assert json.loads((tmp_path / "summary.json").read_text())["ok"] is True
    state = ClusterState.load(tmp_path / "run")
    assert state.signing_path == summary["signing_path"]
    assert state.keys_path == "dealer"
    for record in state.processes:  # every process was stopped
        assert not _running(record.pid), record.name


def test_lying_sequencer_is_refused_then_recovered_by_the_oracle_nodes(tmp_path: Path) -> None:
    """Real nodes refuse block 2 while chain 2 proves another final_root; after the sequencer
    reverts and recommits honestly they re-verify it, and every block executes everywhere."""
    reason = node_unavailable_reason()
    if reason is not None:
        pytest.skip(f"needs oracle-node processes: {reason}")
    run_dir = tmp_path / "run"
    assert run_scenario("lying-sequencer", console=_quiet(), run_dir=run_dir, signing="nodes")
    state = ClusterState.load(run_dir)
    assert state.signing_path == "nodes"
    rejections = [line for log in sorted(run_dir.glob("nodes/node-*/node.log"))
                  for line in log.read_text().splitlines()
                  if "root_rejected block=2 reason=roots_differ" in line]
    assert len(rejections) >= 3, "every honest node records why it refused"


def test_lying_sequencer_scenario_with_the_fallback_signer(tmp_path: Path) -> None:
    """The whole scenario invariant (refusal, recovery, every block executed everywhere) with
    the labelled harness fallback signer, which replays and compares roots like a node."""
    assert run_scenario("lying-sequencer", console=_quiet(), run_dir=tmp_path / "run",
                        circuit=(8, 2), signing="harness")


def test_kill_minority_keeps_confirming(tmp_path: Path) -> None:
    reason = node_unavailable_reason()
    if reason is not None:
        pytest.skip(f"needs oracle-node processes: {reason}")
    assert run_scenario("kill-minority", console=_quiet(), run_dir=tmp_path / "run",
                        signing="nodes")


def _running(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
