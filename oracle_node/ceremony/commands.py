"""CLI commands of the ceremony package: ``oracle-node dkg`` and ``oracle-node dkg-definition``.

Wire into ``oracle_node/cli.py`` with ``register(app)``. Also runnable on its own:
``python -m oracle_node.ceremony.commands dkg --definition FILE --node-dir DIR``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import trio
import typer
from rich.console import Console
from rich.markup import escape

from oracle_node.errors import ConfigError, OracleNodeError

if TYPE_CHECKING:
    from libp2p.crypto.keys import KeyPair

    from oracle_node.ceremony.runner import Progress, RunnerStats

console = Console(stderr=True)


def _load_identity(node_dir: Path, password: str) -> KeyPair:
    from oracle_node.keys import IDENTITY_FILE, read_keystore
    from oracle_node.p2p.identity import identity_from_bytes

    return identity_from_bytes(read_keystore(node_dir / "keys" / IDENTITY_FILE, password))


def dkg(
    definition: Annotated[Path, typer.Option("--definition", help="cluster-definition.json")],
    node_dir: Annotated[Path, typer.Option("--node-dir", help="Node data directory (holds "
                                           "keys/p2p-identity.json; receives the outputs)")]
    = Path("."),
    password_file: Annotated[Path | None, typer.Option(
        "--password-file", help="First line = the key password (or $ORACLE_NODE_PASSWORD)")]
    = None,
    phase_timeout: Annotated[float, typer.Option(help="Seconds per phase at most (a phase "
                                                 "ends as soon as every message arrived)")]
    = 30.0,
    linger: Annotated[float, typer.Option(help="Seconds to keep re-sending after the result")]
    = 10.0,
    scrypt_n: Annotated[int, typer.Option(help="scrypt cost of the share keystore (EIP-2335 "
                                          "default 2^18; lower only on testnets)")] = 2**18,
) -> None:
    """Run the DKG with the other members over libp2p; writes the lock and the key share."""
    from consensus.errors import ConsensusError
    from oracle_node.ceremony.definition import ClusterDefinition
    from oracle_node.ceremony.dkg import run_dkg_libp2p
    from oracle_node.ceremony.runner import PhaseTimeouts
    from oracle_node.keys import read_password
    from oracle_node.p2p.identity import peer_id_of

    show = _Printer()
    try:
        spec = ClusterDefinition.load(definition)
        password = read_password(password_file)
        identity = _load_identity(node_dir, password)
        me = spec.member_of(peer_id_of(identity))
        console.print(f"DKG [bold]{spec.name}[/]: member {me.index} of {len(spec.members)}, "
                      f"threshold {spec.threshold}, ceremony 0x{spec.ceremony_id().hex()[:16]}")
        timeouts = PhaseTimeouts(phase_timeout, phase_timeout, phase_timeout, linger)
        outcome = trio.run(lambda: run_dkg_libp2p(
            definition=spec, identity=identity, node_dir=node_dir,
            password=password, timeouts=timeouts, progress=show, scrypt_n=scrypt_n))
    except (OracleNodeError, ConsensusError, OSError) as err:
        console.print(f"[red]error:[/] {escape(str(err))}")
        for dealer, reason, detail in getattr(err, "evidence", ()):
            console.print(f"  dealer {dealer}: {reason} {detail}")
        raise typer.Exit(1) from err
    console.print(f"[green]done[/]: lock {outcome.lock_path} "
                  f"(0x{outcome.lock.canonical_hash().hex()}), share {outcome.share_path}")
    _print_summary(outcome.lock.canonical_hash(), outcome.stats, show)


class _Printer:
    """Prints progress lines with the time since the command started."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.first: float | None = None
        self.first_unix = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first, self.first_unix = now, time.time()
        console.print(f"[cyan]{now - self.started:7.2f}s[/] [bold]{progress.phase}[/] "
                      f"{progress.detail}")


def _print_summary(lock_hash: bytes, stats: RunnerStats | None, printer: _Printer) -> None:
    """One JSON line on stdout for scripts: lock hash, traffic, times."""
    now = time.monotonic()
    doc: dict[str, object] = {
        "lock_hash": lock_hash.hex(), "seconds": round(now - printer.started, 3),
        "ceremony_seconds": round(now - (printer.first or printer.started), 3),
        "first_progress_unix": printer.first_unix, "finished_unix": time.time()}
    if stats is not None:
        doc.update(messages_sent=stats.messages_sent, bytes_sent=stats.bytes_sent,
                   messages_received=stats.messages_received,
                   bytes_received=stats.bytes_received, retries=stats.retries,
                   rejected=dict(stats.rejected))
    print(json.dumps(doc), flush=True)


def reshare(
    lock: Annotated[Path, typer.Option("--lock", help="The current cluster lock")],
    old_definition: Annotated[Path, typer.Option(
        "--old-definition", help="Definition of the current set (members' addresses)")],
    definition: Annotated[Path, typer.Option("--definition", help="Definition of the new set")],
    node_dir: Annotated[Path, typer.Option("--node-dir")] = Path("."),
    password_file: Annotated[Path | None, typer.Option("--password-file")] = None,
    phase_timeout: Annotated[float, typer.Option()] = 30.0,
    linger: Annotated[float, typer.Option()] = 10.0,
    scrypt_n: Annotated[int, typer.Option()] = 2**18,
) -> None:
    """Reshare the current group key to the set of ``--definition`` (same group key)."""
    from consensus.errors import ConsensusError
    from consensus.lock import LockMember
    from oracle_node.ceremony.definition import ClusterDefinition
    from oracle_node.ceremony.dkg import SHARE_FILE
    from oracle_node.ceremony.reshare import reshare_ceremony_id, run_reshare_libp2p
    from oracle_node.ceremony.runner import PhaseTimeouts
    from oracle_node.keys import load_lock, load_share, read_password
    from oracle_node.p2p.identity import peer_id_of

    show = _Printer()
    try:
        old_lock = load_lock(lock)
        old_spec = ClusterDefinition.load(old_definition)
        new_spec = ClusterDefinition.load(definition)
        password = read_password(password_file)
        identity = _load_identity(node_dir, password)
        me = peer_id_of(identity)
        old_share = None
        if any(m.name == me for m in old_lock.members):
            old_share = load_share(old_lock, node_dir / SHARE_FILE, password)
        addresses = {m.peer_id: m.multiaddr for m in (*old_spec.members, *new_spec.members)}
        cid = reshare_ceremony_id(b"cli", old_lock.canonical_hash(), new_spec.ceremony_id())
        console.print(f"reshare {old_lock.name}: {len(old_lock.members)} -> "
                      f"{len(new_spec.members)} members, threshold {new_spec.threshold}")
        outcome, out = trio.run(lambda: run_reshare_libp2p(
            old_lock=old_lock, old_share=old_share, addresses=addresses,
            new_members=tuple(LockMember(m.index, m.peer_id, m.encryption_key)
                              for m in new_spec.members),
            new_threshold=new_spec.threshold, network_id=new_spec.network_id,
            ceremony_id=cid, identity=identity, node_dir=node_dir, password=password,
            timeouts=PhaseTimeouts(phase_timeout, phase_timeout, phase_timeout, linger),
            progress=show, scrypt_n=scrypt_n))
    except (OracleNodeError, ConsensusError, OSError) as err:
        console.print(f"[red]error:[/] {err}")
        for dealer, reason, detail in getattr(err, "evidence", ()):
            console.print(f"  dealer {dealer}: {reason} {detail}")
        raise typer.Exit(1) from err
    console.print(f"[green]done[/]: new lock and share in {out}")
    _print_summary(outcome.lock.canonical_hash(), outcome.stats, show)


def dkg_definition(
    out: Annotated[Path, typer.Option("--out", help="Folder for node<i>/ and the definition")],
    nodes: Annotated[int, typer.Option("--nodes", min=1, max=1024)] = 4,
    threshold: Annotated[int | None, typer.Option(help="Default ceil(2n/3)")] = None,
    network_id: Annotated[int, typer.Option()] = 1,
    base_port: Annotated[int, typer.Option(help="Member i listens on base_port + i - 1")]
    = 9000,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    name: Annotated[str, typer.Option()] = "local",
    password_file: Annotated[Path | None, typer.Option(
        "--password-file", help="First line = the key password (or $ORACLE_NODE_PASSWORD)")]
    = None,
) -> None:
    """Create node folders (identity keystores) and a cluster definition for a local cluster."""
    from oracle_node.ceremony.local import create_local_cluster
    from oracle_node.keys import read_password

    try:
        path = create_local_cluster(out, nodes=nodes, threshold=threshold,
                                    network_id=network_id, base_port=base_port, host=host,
                                    name=name, password=read_password(password_file))
    except OracleNodeError as err:
        console.print(f"[red]error:[/] {err}")
        raise typer.Exit(1) from err
    console.print(f"wrote {path}")


HANDOVER_RECORD = "handover-signatures.json"
"""In the node's data dir: {old epoch: new key} of every handover this member signed."""


def handover_sign(
    config: Annotated[Path, typer.Option("--config", help="The node's TOML config")],
    old_epoch: Annotated[int, typer.Option(
        "--old-epoch", min=0, help="The gates' current epoch (oracle-gov status)")],
    new_key: Annotated[str, typer.Option("--new-key", help="0x-hex 96-byte successor key")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the partial here")] = None,
    password_file: Annotated[Path | None, typer.Option("--password-file")] = None,
) -> None:
    """Sign a group-key handover with this member's share (for ``oracle-gov handover-combine``).

    The message is rebuilt from the config's network id, ``--old-epoch`` and ``--new-key``;
    a member signs one successor key per epoch (recorded in the data dir).
    """
    from consensus.errors import ConsensusError
    from consensus.handover import sign_handover
    from oracle_node.ceremony.state import atomic_write
    from oracle_node.config import load_config
    from oracle_node.keys import BLS_SHARE_FILE, load_lock, load_share, read_password

    try:
        cfg = load_config(config)
        key = _hex_option("--new-key", new_key)
        record_path = cfg.data_dir / HANDOVER_RECORD
        record = _read_handover_record(record_path)
        signed_before = record.get(str(old_epoch))
        if signed_before not in (None, "0x" + key.hex()):
            raise OracleNodeError(
                f"this member already signed a handover from epoch {old_epoch} to "
                f"{signed_before}; it signs one successor key per epoch (remove "
                f"{record_path} only if that handover will never be submitted)")
        lock = load_lock(cfg.cluster_lock)
        password = read_password(password_file or cfg.password_file)
        share = load_share(lock, cfg.bls_keystore or cfg.keys_dir / BLS_SHARE_FILE, password)
        partial = sign_handover(lock=lock, share=share, network_id=cfg.network_id,
                                old_epoch=old_epoch, new_key=key)
        record[str(old_epoch)] = "0x" + key.hex()
        atomic_write(record_path, json.dumps(record, indent=2).encode())
    except (OracleNodeError, ConsensusError, OSError, ValueError) as err:
        console.print(f"[red]error:[/] {escape(str(err))}")
        raise typer.Exit(1) from err
    if out is not None:
        out.write_text(partial.to_json() + "\n")
        console.print(f"member {partial.member}: wrote {out} (message 0x{partial.message.hex()})")
    else:
        typer.echo(partial.to_json())


def _hex_option(name: str, value: str) -> bytes:
    """Decode a 0x-hex CLI option; ``ConfigError`` naming the option if it is not hex."""
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except ValueError as err:
        raise ConfigError(f"{name}: expected 0x-prefixed hex, got {value[:20]!r}") from err


def _read_handover_record(path: Path) -> dict[str, str]:
    """The {old epoch: new key} record of signed handovers ({} if absent)."""
    if not path.exists():
        return {}
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: unreadable handover record ({err})") from err
    if not isinstance(record, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in record.items()):
        raise ConfigError(f"{path}: a handover record must map epochs to 0x-hex keys")
    return record


def register(app: typer.Typer) -> None:
    """Add the ``dkg``, ``dkg-definition``, ``reshare`` and ``handover-sign`` commands."""
    app.command("dkg")(dkg)
    app.command("dkg-definition")(dkg_definition)
    app.command("reshare")(reshare)
    app.command("handover-sign")(handover_sign)


def main() -> None:
    """Entry point of ``python -m oracle_node.ceremony.commands``."""
    app = typer.Typer(add_completion=False, no_args_is_help=True)
    register(app)
    app()


if __name__ == "__main__":
    main()
