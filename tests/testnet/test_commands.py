"""The cluster commands are registered and reject bad input cleanly (no cluster started)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from testnet.cli import app

runner = CliRunner()


def test_commands_are_registered() -> None:
    out = runner.invoke(app, ["--help"])
    assert out.exit_code == 0
    for name in ("up", "down", "status", "logs", "scenario"):
        assert name in out.output


def test_scenario_list_and_unknown() -> None:
    listed = runner.invoke(app, ["scenario", "list"])
    assert listed.exit_code == 0
    for name in ("lying-sequencer", "kill-minority", "byzantine", "rpc-outage", "partition"):
        assert name in listed.output
    assert runner.invoke(app, ["scenario", "nope"]).exit_code == 2


def test_up_rejects_bad_options_before_starting_anything() -> None:
    assert runner.invoke(app, ["up", "--nodes", "2", "--threshold", "3"]).exit_code == 2
    assert runner.invoke(app, ["up", "--circuit", "16"]).exit_code == 2


def test_status_without_a_cluster_fails_cleanly(tmp_path: Path) -> None:
    out = runner.invoke(app, ["status", "--run-dir", str(tmp_path)])
    assert out.exit_code == 1
    assert "no usable cluster state" in out.output


def test_scenario_rejects_bad_options_before_starting_anything() -> None:
    for args, needle in ((["--circuit", "1,2,3"], "--circuit wants d,k"),
                         (["--circuit", "1,1"], "--circuit d,k needs"),
                         (["--signing", "bogus"], "--signing must be one of")):
        out = runner.invoke(app, ["scenario", "handover", *args])
        assert out.exit_code == 2, out.output
        assert out.exception is None or isinstance(out.exception, SystemExit)
        assert needle in out.output


def test_bench_unknown_suite() -> None:
    out = runner.invoke(app, ["bench", "nosuch"])
    assert out.exit_code == 2
    assert "unknown suite 'nosuch'" in out.output
