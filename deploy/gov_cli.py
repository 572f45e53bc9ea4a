"""``oracle-gov``: governance tooling (signer-set proposals, key handover, pause)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Governance actions on the oracle gate contracts.", no_args_is_help=True,
                  add_completion=False)


@app.command()
def version() -> None:
    """Print the tooling version."""
    from oracle_node import __version__

    typer.echo(__version__)


def main() -> None:
    """Console entry point."""
    app()
