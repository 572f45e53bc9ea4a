"""``oracle-node``: the operator's command line."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run and operate a light oracle network node.", no_args_is_help=True,
                  add_completion=False)


@app.command()
def version() -> None:
    """Print the node version."""
    from oracle_node import __version__

    typer.echo(__version__)


def main() -> None:
    """Console entry point."""
    app()
