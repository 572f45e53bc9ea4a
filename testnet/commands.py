"""Cluster commands of ``oracle-testnet``: ``up``, ``down``, ``status``, ``logs``, ``scenario``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from oracle_node.errors import OracleNodeError
from testnet.harness.options import DEFAULT_CIRCUIT, UpOptions, parse_circuit

console = Console()
_DEFAULT_CIRCUIT_TEXT = f"{DEFAULT_CIRCUIT[0]},{DEFAULT_CIRCUIT[1]}"


def up(
    chains: Annotated[int, typer.Option("--chains", help="Number of anvil chains.")] = 2,
    nodes: Annotated[int, typer.Option("--nodes", help="Number of oracle nodes (n).")] = 4,
    threshold: Annotated[int, typer.Option("--threshold", help="Signing threshold t.")] = 3,
    blocks: Annotated[int, typer.Option(
        "--blocks", help="Stop after this many blocks are executed on every chain "
        "(0 = run until Ctrl-C).")] = 3,
    circuit: Annotated[str, typer.Option(
        "--circuit", help="Circuit depth,capacity (d,k).")] = _DEFAULT_CIRCUIT_TEXT,
    summary: Annotated[Path | None, typer.Option("--summary", help="Write the summary JSON.")
                       ] = None,
    keep: Annotated[bool, typer.Option(
        "--keep", help="Leave chains, nodes and sequencer running after the run (not after "
        "Ctrl-C); stop them with `down`.")] = False,
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="Run directory "
                                                 "(default .runs/<stamp>).")] = None,
    signing: Annotated[str, typer.Option(
        "--signing", help="auto (nodes if the node can run, else the LABELLED harness "
        "fallback), nodes, or harness.")] = "auto",
    keys: Annotated[str, typer.Option(
        "--keys", help="dkg (the nodes run `oracle-node dkg` among themselves) or dealer "
        "(TRUSTED DEALER: the harness deals every share; testnet only).")] = "dkg",
    timeout: Annotated[float, typer.Option("--timeout", help="Give up after this many s.")
                       ] = 900.0,
    web_port: Annotated[int | None, typer.Option(
        "--web-port", help="Serve the status page on this loopback port.")] = None,
) -> None:
    """Start chains, contracts, signers and a sequencer with traffic; show live progress."""
    from testnet.harness.runner import run_cluster

    try:
        options = UpOptions(chains=chains, nodes=nodes, threshold=threshold,
                            blocks=blocks or None, circuit=parse_circuit(circuit),
                            summary=summary, keep=keep, run_dir=run_dir, signing=signing,
                            keys=keys, timeout=timeout, web_port=web_port)
        options.validate()
    except OracleNodeError as err:
        console.print(f"[red]{err}")
        raise typer.Exit(2) from err
    code, doc, _cluster = run_cluster(options, console=console)
    if doc is not None:
        _print_result(doc)
    raise typer.Exit(code)


def _print_result(doc: dict[str, object]) -> None:
    table = Table(title="result")
    table.add_column("field")
    table.add_column("value")
    for key in ("ok", "signing_path", "keys_path", "executed_everywhere", "blocks_target",
                "latency_s", "failures", "run_dir"):
        table.add_row(key, json.dumps(doc.get(key), default=str))
    console.print(table)
    if doc.get("signing_path") != "nodes":
        console.print("[red]NOTE: blocks were signed by the HARNESS FALLBACK signer, "
                      "not by oracle nodes")
    if doc.get("trusted_dealer"):
        console.print("[yellow]NOTE: key shares came from a TRUSTED DEALER (--keys dealer); "
                      "testnet only")
    else:
        dkg = doc.get("dkg")
        lock_hash = dkg.get("lock_hash") if isinstance(dkg, dict) else None
        console.print(f"[green]key shares: DKG among the node processes (lock {lock_hash})")


def _run_dir_or_latest(run_dir: Path | None) -> Path:
    from testnet.harness.rundir import latest_run_dir

    return run_dir.resolve() if run_dir is not None else latest_run_dir()


def down(
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="Cluster run directory "
                                                 "(default: the latest under .runs/).")] = None,
) -> None:
    """Stop every process of a cluster left running with ``up --keep``."""
    from testnet.harness.control import stop_cluster

    try:
        stopped = stop_cluster(_run_dir_or_latest(run_dir))
    except OracleNodeError as err:
        console.print(f"[red]{err}")
        raise typer.Exit(1) from err
    console.print(f"stopped {len(stopped)} processes: {', '.join(stopped) or '-'}")


def status(
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="Cluster run directory.")
                       ] = None,
) -> None:
    """Show a kept cluster's processes and each chain's progress."""
    from testnet.harness.control import cluster_status

    try:
        table = cluster_status(_run_dir_or_latest(run_dir))
    except OracleNodeError as err:
        console.print(f"[red]{err}")
        raise typer.Exit(1) from err
    console.print(table)


def logs(
    name: Annotated[str, typer.Argument(help="node-<i> (or just <i>), sequencer, anvil-<c>, "
                                        "harness")],
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="Cluster run directory.")
                       ] = None,
    lines: Annotated[int, typer.Option("--lines", "-n", help="Last N lines.")] = 50,
) -> None:
    """Print the last lines of one process's log."""
    from testnet.harness.control import log_path

    try:
        path = log_path(_run_dir_or_latest(run_dir), name)
    except OracleNodeError as err:
        console.print(f"[red]{err}")
        raise typer.Exit(1) from err
    text = path.read_text(errors="replace").splitlines()[-lines:]
    console.print(f"[bold]{path}")
    for line in text:
        console.print(line, markup=False, highlight=False)


def scenario(
    name: Annotated[str, typer.Argument(help="Scenario name (see `scenario list`).")],
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="Run directory.")] = None,
    circuit: Annotated[str, typer.Option("--circuit", help="d,k")] = _DEFAULT_CIRCUIT_TEXT,
    signing: Annotated[str, typer.Option("--signing", help="auto, nodes or harness")] = "auto",
) -> None:
    """Run a fault scenario and check its invariant (exit 0 only if it holds)."""
    from testnet.scenarios import SCENARIOS, run_scenario

    if name == "list":
        for key, text in SCENARIOS.items():
            console.print(f"[bold]{key}[/]: {text}")
        return
    if name not in SCENARIOS:
        console.print(f"[red]unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
        raise typer.Exit(2)
    try:
        parsed = parse_circuit(circuit)
        UpOptions(circuit=parsed, signing=signing).validate()
    except OracleNodeError as err:
        console.print(f"[red]{err}")
        raise typer.Exit(2) from err
    try:
        ok = run_scenario(name, console=console, run_dir=run_dir, circuit=parsed,
                          signing=signing)
    except OracleNodeError as err:
        console.print(f"[red]{err}")
        raise typer.Exit(1) from err
    raise typer.Exit(0 if ok else 1)


def register(app: typer.Typer) -> None:
    """Attach the cluster commands to the ``oracle-testnet`` app."""
    for command in (up, down, status, logs, scenario):
        app.command()(command)
