"""The CLI commands through typer (no network: definition tool and refusal paths)."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from oracle_node.ceremony.commands import register
from oracle_node.ceremony.definition import ClusterDefinition
from tests.ceremony.helpers import PASSWORD


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_dkg_definition_then_dkg_refuses_a_non_member(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"ORACLE_NODE_PASSWORD": PASSWORD}
    done = runner.invoke(_app(), ["dkg-definition", "--out", str(tmp_path / "a"), "--nodes",
                                  "4", "--base-port", "9200"], env=env)
    assert done.exit_code == 0, done.output
    definition = ClusterDefinition.load(tmp_path / "a" / "cluster-definition.json")
    assert (definition.threshold, len(definition.members)) == (3, 4)
    other = runner.invoke(_app(), ["dkg-definition", "--out", str(tmp_path / "b"), "--nodes",
                                   "1"], env=env)
    assert other.exit_code == 0, other.output
    refused = runner.invoke(_app(), [
        "dkg", "--definition", str(tmp_path / "a" / "cluster-definition.json"),
        "--node-dir", str(tmp_path / "b" / "node1")], env=env)
    assert refused.exit_code == 1
    assert "is not a member" in refused.output


def test_dkg_reports_a_bad_definition(tmp_path: Path) -> None:
    bad = tmp_path / "def.json"
    bad.write_text('{"version": 1}')
    result = CliRunner().invoke(_app(), ["dkg", "--definition", str(bad), "--node-dir",
                                         str(tmp_path)], env={"ORACLE_NODE_PASSWORD": PASSWORD})
    assert result.exit_code == 1
    assert "unexpected or missing fields" in result.output


def test_dkg_reports_a_garbage_definition_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "def.json"
    env = {"ORACLE_NODE_PASSWORD": PASSWORD}
    for content, expected in [(b"\xff\xfe\x00", "not UTF-8 text"),
                              (b"[]", "expected a JSON object"),
                              (b"not json", "malformed definition")]:
        bad.write_bytes(content)
        result = CliRunner().invoke(_app(), ["dkg", "--definition", str(bad), "--node-dir",
                                             str(tmp_path)], env=env)
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit), result.exception
        assert expected in " ".join(result.output.split())
