"""Fault scenarios: ``oracle-testnet scenario NAME`` runs a small cluster, injects one fault,
prints what it did and checks the invariant (every honest block confirmed and executed on
every chain; nothing wrong ever confirmed; evidence present where it should be)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from testnet.scenarios.base import ScenarioResult
from testnet.scenarios.catalog import CATALOG

SCENARIOS: dict[str, str] = {name: spec.description for name, spec in CATALOG.items()}
"""Scenario name -> one-line description."""


def run_scenario(name: str, *, console: Console | None = None, run_dir: Path | None = None,
                 circuit: tuple[int, int] | None = None, signing: str = "auto") -> bool:
    """Run scenario ``name``; print its checks; True iff its invariant held."""
    console = console or Console()
    spec = CATALOG[name]
    result: ScenarioResult = spec.run(console=console, run_dir=run_dir, circuit=circuit,
                                      signing=signing)
    result.save()
    result.print(console)
    return result.ok
