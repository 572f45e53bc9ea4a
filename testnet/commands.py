"""Cluster commands of ``oracle-testnet`` (``up``, ``down``, ``status``, ``logs``, ``scenario``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from testnet.anvil import start_anvil

console = Console()


def up(
    chains: Annotated[int, typer.Option("--chains", help="Number of anvil chains.")] = 2,
) -> None:
    """Start local chains and show their heads (the full cluster lands with the harness issue)."""
    started = []
    try:
        for index in range(chains):
            started.append(start_anvil(chain_id=1000 + index + 1))
        table = Table(title="local chains")
        for col in ("chain id", "rpc", "head"):
            table.add_column(col)
        for chain in started:
            head = int(str(chain.rpc("eth_blockNumber")), 16)
            table.add_row(str(chain.chain_id), chain.rpc_url, str(head))
        console.print(table)
    finally:
        for chain in started:
            chain.stop()


def register(app: typer.Typer) -> None:
    """Attach the cluster commands to the ``oracle-testnet`` app."""
    app.command()(up)
