"""Fast tests of the harness: state file, process supervision, summary maths, monitor records."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testnet.harness.errors import HarnessError
from testnet.harness.monitor import ChainMonitor
from testnet.harness.options import DEFAULT_CIRCUIT, UpOptions, parse_circuit
from testnet.harness.procs import Supervisor
from testnet.harness.rundir import ClusterState, ProcessRecord, latest_run_dir, new_run_dir
from testnet.harness.summary import percentile


def test_state_file_roundtrip_and_latest(tmp_path: Path) -> None:
    run = new_run_dir(tmp_path)
    state = ClusterState(run_dir=str(run), created_unix=1.0, signing_path="nodes",
                         circuit=(8, 2), processes=[ProcessRecord("anvil-1", 123, "x.log",
                                                                  {"rpc": 8545})])
    state.save()
    again = ClusterState.load(run)
    assert again == state
    assert latest_run_dir(tmp_path) == run
    with pytest.raises(HarnessError):
        ClusterState.load(tmp_path / "nowhere")
    with pytest.raises(HarnessError):
        latest_run_dir(tmp_path / "empty")


def test_supervisor_stops_the_whole_process_group(tmp_path: Path) -> None:
    sup = Supervisor()
    # The child starts a grandchild; stopping the child's group must end both.
    code = ("import subprocess, sys, time; "
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "print(p.pid, flush=True); time.sleep(60)")
    child = sup.start("sleeper", [sys.executable, "-c", code], log_path=tmp_path / "s.log")
    grandchild = 0
    for _ in range(200):
        text = (tmp_path / "s.log").read_text().strip()
        if text:
            grandchild = int(text)
            break
        subprocess.run(["sleep", "0.05"], check=True)
    assert grandchild > 0
    sup.stop_all()
    assert not child.alive()
    with pytest.raises(ProcessLookupError):
        for _ in range(100):
            os.kill(grandchild, 0)
            subprocess.run(["sleep", "0.05"], check=True)
    with pytest.raises(HarnessError):
        sup.start("late", [sys.executable, "-c", "pass"], log_path=tmp_path / "l.log")


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0


def test_options_validation() -> None:
    UpOptions().validate()
    with pytest.raises(HarnessError):
        UpOptions(nodes=2, threshold=3).validate()
    with pytest.raises(HarnessError):
        UpOptions(signing="magic").validate()
    assert parse_circuit("16,4") == (16, 4)
    with pytest.raises(HarnessError):
        parse_circuit("16")


def test_monitor_records_latency_and_wrong_confirmations() -> None:
    monitor = ChainMonitor([(1, "http://127.0.0.1:1", "0x" + "00" * 20),
                            (2, "http://127.0.0.1:1", "0x" + "00" * 20)])
    try:
        a, b = monitor.views
        root = b"\x11" * 32
        for view, proven_at, confirmed_at in ((a, 10.0, 12.0), (b, 11.0, 12.5)):
            view.roots[1] = root
            view.confirmed_roots[1] = root
            view.seen_at[("proven", 1)] = proven_at
            view.seen_at[("confirmed", 1)] = confirmed_at
            view.highest["confirmed"] = 1
        record = monitor.record(1)
        assert record.latency_s == pytest.approx(1.5)
        assert record.final_roots_agree
        assert record.confirmed_on == [1, 2]
        assert monitor.wrong_confirmations() == []
        b.confirmed_roots[1] = b"\x22" * 32
        assert monitor.wrong_confirmations() == [(2, 1)]
        monitor.poll()  # nothing listens on port 1: the error is recorded, not raised
        assert a.error
        assert b.error
    finally:
        monitor.close()


def test_a_later_confirmation_confirms_earlier_blocks() -> None:
    """The gate confirms every block up to the confirmed one; block 1 needs no event of its own."""
    monitor = ChainMonitor([(1, "http://127.0.0.1:1", "0x" + "00" * 20)])
    try:
        (view,) = monitor.views
        view.seen_at[("proven", 1)] = 1.0
        view.seen_at[("proven", 2)] = 2.0
        view.seen_at[("confirmed", 2)] = 5.0
        assert monitor.record(1).confirmed_on == [1]
        assert monitor.record(1).latency_s == pytest.approx(4.0)
        assert monitor.record(3).confirmed_on == []
    finally:
        monitor.close()


def test_nodes_are_refused_for_a_circuit_they_cannot_replay() -> None:
    from testnet.harness.nodes import circuit_mismatch_reason

    assert circuit_mismatch_reason(DEFAULT_CIRCUIT) is None
    reason = circuit_mismatch_reason((8, 2))
    assert reason is not None
    assert "8,2" in reason
