"""Operator-facing CLI errors name the offending key or table and exit 2 (no traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    code = ("import sys; from oracle_node.cli import main; "
            "sys.argv = ['oracle-node', *sys.argv[1:]]; main()")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         timeout=120)
    # rich wraps long lines at the terminal width; compare the words, not the layout
    return subprocess.CompletedProcess(out.args, out.returncode, " ".join(out.stdout.split()),
                                       out.stderr)


def test_missing_table_is_named_literally(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text('[network]\nid = "x"\n')
    out = _run("run", "--config", str(config))
    assert out.returncode == 2
    assert "[node]: missing table" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def test_unreadable_and_malformed_configs_exit_2(tmp_path: Path) -> None:
    missing = _run("run", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2
    assert "cannot read config" in missing.stdout
    garbage = tmp_path / "garbage.toml"
    garbage.write_text("this is = = not toml\n")
    bad = _run("run", "--config", str(garbage))
    assert bad.returncode == 2
    assert "not valid TOML" in bad.stdout
