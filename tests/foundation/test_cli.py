"""The three console entry points answer --help after install."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "needle"),
    [("oracle_node.cli", "Usage"), ("deploy.gov_cli", "Usage"), ("testnet.cli", "bench")],
)
def test_entry_point_help(module: str, needle: str) -> None:
    code = f"import sys; sys.argv=['x','--help']; import {module} as m; m.main()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert needle in out.stdout


def test_unknown_bench_suite_is_rejected() -> None:
    code = "import sys; sys.argv=['x','bench','nope']; import testnet.cli as m; m.main()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
