"""System test: chain reorgs shallower and deeper than the nodes' finality rule.

Real anvil chains (full history, ``anvil_reorg``), contracts, ``oracle-node run`` processes
over libp2p and the testnet sequencer (testnet/scenarios/reorg.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from testnet.scenarios.reorg import run_reorg

pytestmark = [pytest.mark.system, pytest.mark.slow]


@pytest.mark.timeout(300)
def test_reorgs_never_confirm_orphaned_events_and_confirm_every_block_once(
        tmp_path: Path) -> None:
    """Every invariant of the reorg scenario holds (each check named on failure)."""
    result = run_reorg(console=Console(width=200, force_terminal=False),
                       run_dir=tmp_path / "run")
    failed = [(what, detail) for what, passed, detail in result.checks if not passed]
    assert result.ok, f"failed checks: {failed}; actions {result.actions}; " \
                      f"run dir {result.run_dir}"
