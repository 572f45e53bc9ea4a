"""System test: a signer-set rotation 4 (t=3) -> 5 (t=4) with real node processes.

Real anvil chains, contracts, ``oracle-node run`` processes over libp2p, the testnet
sequencer and ``oracle-gov propose-signer-set`` (testnet/scenarios/rotation.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from testnet.scenarios.rotation import run_rotation

pytestmark = [pytest.mark.system, pytest.mark.slow]


@pytest.mark.timeout(400)
def test_rotation_keeps_group_key_and_confirms_every_block(tmp_path: Path) -> None:
    """Every invariant of the rotation scenario holds (each check named on failure)."""
    result = run_rotation(console=Console(width=200, force_terminal=False),
                          run_dir=tmp_path / "run")
    failed = [(what, detail) for what, passed, detail in result.checks if not passed]
    assert result.ok, f"failed checks: {failed}; run dir {result.run_dir}"
