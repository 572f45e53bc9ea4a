"""``oracle-testnet``: local clusters, scenarios and benchmarks."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from testnet.bench import SUITES
from testnet.bench.report import BenchReport

app = typer.Typer(help="Local multi-chain clusters, fault scenarios and benchmarks.",
                  no_args_is_help=True, add_completion=False)
console = Console()


@app.command()
def bench(
    suite: Annotated[str, typer.Argument(help="Suite: " + ", ".join(SUITES))],
    out: Annotated[Path | None, typer.Option("--out", help="Write the JSON report here.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Smaller sizes, for smoke runs.")] = False,
) -> None:
    """Run a benchmark suite, print a table and optionally write JSON."""
    if suite not in SUITES:
        console.print(f"[red]unknown suite {suite!r}; choose one of: {', '.join(SUITES)}")
        raise typer.Exit(2)
    try:
        module = importlib.import_module(f"testnet.bench.{suite}")
    except ModuleNotFoundError as err:
        if err.name == f"testnet.bench.{suite}":
            console.print(f"[yellow]bench suite {suite!r} is not implemented yet")
            raise typer.Exit(3) from err
        raise
    report = BenchReport(suite=suite)
    module.run(report, quick=quick)
    report.print(console)
    if out is not None:
        report.write(out)
        console.print(f"wrote {out}")


def _register_optional(module_name: str) -> None:
    """Attach sub-commands from a module if it exists (lets capabilities land independently)."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name:
            return
        raise
    module.register(app)


_register_optional("testnet.commands")


def main() -> None:
    """Console entry point."""
    app()
