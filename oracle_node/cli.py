"""``oracle-node``: the operator's command line (init, run, status, block, doctor, version)."""

from __future__ import annotations

import json
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from oracle_node.ceremony.commands import register as register_ceremony_commands
from oracle_node.errors import ConfigError, OracleNodeError
from oracle_node.store.db import BlockRecord

app = typer.Typer(help="Run and operate a light oracle network node.", no_args_is_help=True,
                  add_completion=False)
console = Console()

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Path to node.toml.")]
PasswordOpt = Annotated[Path | None, typer.Option(
    "--password-file", help="File whose first line is the key password "
    "(default: keys.password_file or $ORACLE_NODE_PASSWORD).")]


class KvFormatter(logging.Formatter):
    """``ts=… level=… logger=… msg="…"``: the message itself already carries key=value pairs."""

    def format(self, record: logging.LogRecord) -> str:
        """One line per record."""
        line = (f"ts={self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} level={record.levelname} "
                f"logger={record.name} {record.getMessage()}")
        if record.exc_info:
            line += " exc=" + json.dumps(self.formatException(record.exc_info))
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``key=value`` pairs of the message become fields."""

    def format(self, record: logging.LogRecord) -> str:
        """One line per record."""
        message = record.getMessage()
        doc: dict[str, Any] = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
                               "level": record.levelname, "logger": record.name}
        event, *pairs = message.split(" ")
        doc["event"] = event
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if sep:
                doc[key] = value
        doc["msg"] = message
        return json.dumps(doc, sort_keys=True)


def setup_logging(fmt: str, level: int = logging.INFO) -> None:
    """Structured logs on stderr (``kv`` or ``json``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KvFormatter())
    root = logging.getLogger("oracle_node")
    root.handlers[:] = [handler]
    root.setLevel(level)
    # A dependency may configure the root logger (py-libp2p does on import); without this,
    # every node line would be printed a second time in the default format.
    root.propagate = False


def _fail(err: Exception) -> typer.Exit:
    # escape(): config errors name TOML tables like "[network]", which rich reads as markup
    console.print(f"[red]error:[/red] {escape(str(err))}")
    return typer.Exit(2)


@app.command()
def version() -> None:
    """Print the node version."""
    from oracle_node import __version__

    typer.echo(__version__)


@app.command()
def init(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Node directory to create.")],
    password_file: PasswordOpt = None,
    import_bls: Annotated[Path | None, typer.Option(
        "--import-bls", help="An EIP-2335 BLS share keystore (testnets; production gets it "
        "from the ceremony) to copy into the node directory.")] = None,
) -> None:
    """Generate the libp2p identity and the transaction key into encrypted keystores."""
    from eth_account import Account

    from oracle_node.keys import (
        BLS_SHARE_FILE,
        IDENTITY_FILE,
        TX_KEY_FILE,
        read_keystore,
        read_password,
        write_keystore,
    )
    from oracle_node.p2p.identity import generate_identity, identity_to_bytes, peer_id_of

    keys = data_dir / "keys"
    try:
        password = read_password(password_file)
        if len(password) < 8:
            raise ConfigError("the key password must have at least 8 characters")
        existing = [p for p in (keys / IDENTITY_FILE, keys / TX_KEY_FILE) if p.exists()]
        if existing:
            raise ConfigError(f"{existing[0]} exists; init never overwrites keys")
        identity = generate_identity()
        write_keystore(keys / IDENTITY_FILE, identity_to_bytes(identity), password,
                       description="libp2p identity (protobuf private key)")
        account = Account.create()
        write_keystore(keys / TX_KEY_FILE, bytes(account.key), password,
                       description=f"transaction key {account.address}")
        if import_bls is not None:
            read_keystore(import_bls, password)  # must decrypt with the node password
            target = keys / BLS_SHARE_FILE
            target.write_text(import_bls.read_text())
            target.chmod(0o600)
    except OracleNodeError as err:
        raise _fail(err) from err
    console.print(f"peer id:            {peer_id_of(identity)}")
    console.print(f"transaction address: {account.address}  (fund it on every chain)")
    console.print(f"keys written to {keys}")


@app.command()
def run(config: ConfigOpt, password_file: PasswordOpt = None) -> None:
    """Run the node until interrupted."""
    import trio

    from oracle_node.app import run_from_config
    from oracle_node.config import load_config
    from oracle_node.keys import read_password

    async def until_signal() -> None:
        """Run the node; SIGINT/SIGTERM cancel it cleanly (the nursery unwinds)."""
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_from_config, cfg, password)
                async for signum in signals:
                    logging.getLogger("oracle_node").info("node_stopping signal=%d", signum)
                    nursery.cancel_scope.cancel()
                    break

    try:
        cfg = load_config(config)
        setup_logging(cfg.log_format)
        password = read_password(password_file or cfg.password_file)
        trio.run(until_signal)
    except OracleNodeError as err:
        raise _fail(err) from err
    except BaseExceptionGroup as group:
        matched, rest = group.split(OracleNodeError)
        if matched is None or rest is not None:
            raise
        first: BaseException = matched
        while isinstance(first, BaseExceptionGroup):  # nested nurseries nest groups
            first = first.exceptions[0]
        assert isinstance(first, OracleNodeError)
        raise _fail(first) from group


@app.command()
def status(
    config: ConfigOpt,
    url: Annotated[str | None, typer.Option(
        "--url", help="Status endpoint base URL (default: http.listen of the config).")] = None,
) -> None:
    """Show peers, chain heads, last confirmed block per chain, lag and recent block traces."""
    import httpx

    from oracle_node.config import load_config

    try:
        cfg = load_config(config)
    except OracleNodeError as err:
        raise _fail(err) from err
    base = url or f"http://{cfg.http_listen}"
    try:
        doc = httpx.get(f"{base}/status", timeout=5.0).json()
        if not isinstance(doc, dict):  # something else answers on that address
            raise ValueError(f"{base}/status is not a node status document")
        source = base
    except httpx.InvalidURL as err:  # not an HTTPError: a bad --url or http.listen
        raise _fail(ConfigError(f"status URL {base!r}: {err}")) from err
    except (httpx.HTTPError, ValueError):
        try:
            doc = _status_from_db(cfg.db_path, [c.id for c in cfg.chains])
        except OracleNodeError as err:  # e.g. a corrupt database file
            raise _fail(err) from err
        source = (f"{cfg.db_path} (node not answering on {base})" if doc else
                  f"nothing: node not answering on {base} and no node database at "
                  f"{cfg.db_path} yet")
    console.print(f"status from {source}")
    table = Table()
    for col in ("chain", "head", "last confirmed", "lag (blocks)"):
        table.add_column(col)
    heads = doc.get("chain_heads", {})
    for chain in [str(c.id) for c in cfg.chains]:
        table.add_row(chain, str(heads.get(chain, "?")),
                      str(doc.get("last_confirmed_block", {}).get(chain, 0)),
                      str(doc.get("lag", {}).get(chain, "?")))
    console.print(table)
    console.print(f"peers: {doc.get('peer_count', '?')}  last verified block: "
                  f"{doc.get('last_verified_block', '?')}  not ready because: "
                  f"{', '.join(doc.get('ready_reasons', [])) or '-'}")
    blocks = doc.get("blocks") or []
    if blocks:
        console.print(block_table(blocks))


TRACE_COLUMNS = ("observed", "verified", "signed", "aggregated", "submitted", "confirmed")


def _step_cell(entry: Any) -> str:
    if not isinstance(entry, dict):
        return "?"
    if entry.get("status") == "failed":
        return f"[red]✗ {entry.get('reason') or 'failed'}[/red]"
    latency = entry.get("latency")
    if entry.get("status") == "ok" and isinstance(latency, int | float):
        return f"[green]{latency * 1000:.0f} ms[/green]"
    return "[dim]…[/dim]"


def block_table(blocks: list[Any]) -> Table:
    """The ``/status`` block traces as a table: latency per step from the last proof."""
    table = Table(title="recent blocks (latency from the last chain's BlockProven)")
    table.add_column("block", justify="right")
    for step in TRACE_COLUMNS:
        table.add_column(step, justify="right")
    table.add_column("outcome")
    for item in blocks:
        if not isinstance(item, dict):
            continue
        steps = item.get("steps") or {}
        outcome = str(item.get("outcome", "?"))
        if item.get("failure"):
            outcome = f"[red]failed: {item['failure']}[/red]"
        elif outcome == "pending" and item.get("waiting_for"):
            outcome = f"pending ({item['waiting_for']})"
        table.add_row(str(item.get("block", "?")),
                      *(_step_cell(steps.get(step)) for step in TRACE_COLUMNS), outcome)
    return table


def _status_from_db(path: Path, chains: list[int]) -> dict[str, Any]:
    from oracle_node.health import progress_from_store
    from oracle_node.store.db import NodeStore

    if not path.exists():
        return {}
    store = NodeStore.open(path)
    try:
        return progress_from_store(store, chains)
    finally:
        store.close()


@app.command()
def block(
    config: ConfigOpt,
    number: Annotated[int, typer.Argument(help="Rollup block number to explain.", min=1)],
) -> None:
    """Explain one block from the node's database: what each chain proved, the verdict,
    signatures and each chain's confirmation (safe while the node runs)."""
    from oracle_node.config import load_config
    from oracle_node.store.db import NodeStore

    try:
        cfg = load_config(config)
        if not cfg.db_path.exists():
            raise ConfigError(f"no node database at {cfg.db_path} (has the node run?)")
        store = NodeStore.open(cfg.db_path)
    except OracleNodeError as err:
        raise _fail(err) from err
    try:
        record = store.block_record(number)
    finally:
        store.close()
    for line in block_report(record):
        console.print(line)


def _hex(data: bytes | None) -> str:
    return "-" if data is None else "0x" + data.hex()


def block_report(record: BlockRecord) -> list[str | Table]:
    """The ``oracle-node block`` output: per-chain table, then the node's own steps."""
    table = Table(title=f"block {record.block}")
    for col in ("chain", "proved final_root", "L1 block", "confirmation", "tx", "gas"):
        table.add_column(col)
    proved = {chain: (root, l1) for chain, root, l1 in record.observed}
    submitted = {s[0]: s for s in record.submissions}
    for chain in sorted(set(proved) | set(submitted)):
        root, l1 = proved.get(chain, (None, None))
        sub = submitted.get(chain)
        table.add_row(str(chain), _hex(root), "-" if l1 is None else str(l1),
                      "-" if sub is None else sub[1] + (f" ({sub[4]})" if sub[4] else ""),
                      "-" if sub is None else _hex(sub[2]),
                      "-" if sub is None or sub[3] is None else str(sub[3]))
    out: list[str | Table] = [table]
    if record.verified is not None:
        root, state, epoch = record.verified
        out.append(f"[green]verified[/green] final_root {_hex(root)} state_root "
                   f"{_hex(state)} (epoch {epoch})")
    elif record.rejected is not None:
        out.append(f"[red]rejected: {escape(record.rejected[0])}[/red] "
                   f"{escape(record.rejected[1])}")
    else:
        out.append("not verified yet (waiting for every chain's proof and the DA data)")
    for epoch, root in record.own_signatures:
        out.append(f"signed epoch {epoch}: {_hex(root)}")
    for epoch, count in record.partials:
        out.append(f"partials held, epoch {epoch}: {count}")
    for agg in record.aggregates:
        out.append(f"group signature epoch {agg.epoch}: members {list(agg.members)}")
    for epoch, member, path in record.evidence:
        out.append(f"[red]evidence[/red] epoch {epoch} member {member}: {path}")
    return out


@app.command()
def doctor(config: ConfigOpt, password_file: PasswordOpt = None) -> None:
    """Check config, keys, lock, RPCs, chain ids, contract code, peers and clock skew."""
    import trio

    from oracle_node.health import run_checks

    results = trio.run(run_checks, config, password_file)
    table = Table(title="oracle-node doctor")
    for col in ("check", "result", "how to fix"):
        table.add_column(col)
    for check in results:
        mark = "[green]ok[/green]" if check.ok else "[red]FAIL[/red]"
        table.add_row(check.name, f"{mark} {check.detail}", "" if check.ok else check.fix)
    console.print(table)
    if not all(c.ok for c in results):
        raise typer.Exit(1)


# Ceremony commands (dkg, dkg-definition, reshare) live with the ceremony code.
register_ceremony_commands(app)


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
