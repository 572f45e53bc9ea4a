"""Oracle node processes of a local cluster: keys, lock, configs, start-up, status probes.

Each node gets ``nodes/node-<i>/``: a password file, ``data/`` initialised by ``oracle-node
init`` (libp2p identity and transaction key), its BLS share and lock (``--keys dkg``: written
by its own ``oracle-node dkg``, :mod:`testnet.harness.dkg`; ``--keys dealer``: the TRUSTED
DEALER's share imported by ``init --import-bls`` and the shared ``cluster/cluster-lock.json``)
and ``node.toml``. The harness funds each node's transaction address on every chain and
starts ``oracle-node run``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testnet.anvil import free_port
from testnet.harness.errors import HarnessError
from testnet.sequencer.evm import EvmClient

if TYPE_CHECKING:
    from testnet.harness.cluster import Cluster

NODE_FUNDS_WEI = 100 * 10**18
NODE_CONFIRMATIONS = 0
"""The harness's finality rule for the nodes: ``confirmations = 0`` on every chain (anvil
never reorganises by itself); scenarios raise it with ``node_config_extra``."""


@dataclass
class NodeHandle:
    """One started node process."""

    index: int
    process: subprocess.Popen[bytes] | None
    status_url: str | None
    config_path: Path
    log_path: Path
    peer_id: str = ""
    tx_address: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    stopped_on_purpose: bool = False

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def returncode(self) -> int | None:
        """The exit code once it exited."""
        return None if self.process is None else self.process.poll()

    def describe(self) -> dict[str, Any]:
        """What the state file records about this node."""
        return {"index": self.index, "pid": self.process.pid if self.process else None,
                "status_url": self.status_url, "config": str(self.config_path),
                "log": str(self.log_path), "ports": self.ports, "peer_id": self.peer_id,
                "tx_address": self.tx_address}


def node_command(*args: str) -> list[str]:
    """argv running ``oracle-node ARGS`` with this interpreter (no PATH lookup needed)."""
    code = ("import sys; from oracle_node.cli import main; "
            "sys.argv = ['oracle-node', *sys.argv[1:]]; main()")
    return [sys.executable, "-c", code, *args]


@functools.cache
def node_rollup_supported() -> bool:
    """True if this checkout's node config accepts ``[rollup] depth``/``capacity``.

    Probed by parsing a minimal config with a ``[rollup]`` table (``oracle_node.config``);
    until the node knows the section, the harness writes no ``[rollup]`` table."""
    from oracle_node.config import parse_config
    from oracle_node.errors import ConfigError

    probe: dict[str, Any] = {
        "node": {"data_dir": "data", "cluster_lock": "lock.json"},
        "network": {"network_id": 1, "da_chain": 1},
        "p2p": {"listen": "/ip4/127.0.0.1/tcp/9000"},
        "chains": [{"id": 1, "name": "c", "rpc": "http://127.0.0.1:8545", "evm_chain_id": 1,
                    "contract": "0x" + "11" * 20}],
        "rollup": {"depth": 16, "capacity": 4}}
    try:
        parse_config(probe, base_dir=Path("."))
    except ConfigError as err:
        return not str(err).startswith("rollup")
    return True


def circuit_mismatch_reason(circuit: tuple[int, int]) -> str | None:
    """None if the node replays with the circuit's (depth, capacity), else why not.

    A node that accepts ``[rollup] depth/capacity`` gets them in its config (any circuit);
    an older node replays with the default ``RollupParams()`` only."""
    from oracle_node.rollup.state import RollupParams

    if node_rollup_supported():
        return None
    default = RollupParams()
    if (default.depth, default.capacity) != tuple(circuit):
        return (f"the node replays with depth={default.depth}, capacity={default.capacity} "
                f"(no config setting yet), not the requested circuit {circuit[0]},{circuit[1]}")
    return None


@functools.cache
def node_unavailable_reason() -> str | None:
    """None if ``oracle-node run`` can run a node, else why not (shown to the user)."""
    if importlib.util.find_spec("oracle_node.app") is None:
        return "oracle_node.app (the node wiring) does not exist yet"
    probe = subprocess.run(node_command("run", "--help"), capture_output=True, text=True,
                           timeout=60)
    if probe.returncode != 0:
        return "`oracle-node run` is not available: " + (probe.stderr.strip()[-200:] or "?")
    return None


@dataclass(frozen=True)
class NodeIdentity:
    """A node's folder after ``oracle-node init``: its password, peer id and tx address."""

    index: int
    node_dir: Path
    password: str
    peer_id: str
    tx_address: str

    @property
    def data_dir(self) -> Path:
        """The node's data dir (``keys/``; the DKG writes ``cluster-lock.json`` here)."""
        return self.node_dir / "data"


def start_node_init(node_dir: Path, share_secret: bytes | None,
                    password: str) -> subprocess.Popen[str]:
    """Start ``oracle-node init`` in ``node_dir/data`` (password file written beside it);
    ``share_secret`` (TRUSTED DEALER only) is imported with ``--import-bls``."""
    from oracle_node.keys import write_keystore

    node_dir.mkdir(parents=True, exist_ok=True)
    (node_dir / "password").write_text(password + "\n")
    (node_dir / "password").chmod(0o600)
    extra: list[str] = []
    if share_secret is not None:
        share_file = node_dir / "bls-share-dealt.json"
        write_keystore(share_file, share_secret, password,
                       description="BLS key share (TRUSTED DEALER: dealt by the testnet harness)")
        extra = ["--import-bls", str(share_file)]
    return subprocess.Popen(
        node_command("init", "--data-dir", str(node_dir / "data"),
                     "--password-file", str(node_dir / "password"), *extra),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, COLUMNS="200", NO_COLOR="1"))


def parse_init_output(output: str, index: int) -> tuple[str, str]:
    """(peer id, transaction address) printed by ``oracle-node init`` of node ``index``."""
    peer = re.search(r"peer id:\s+(\S+)", output)
    address = re.search(r"transaction address:\s+(0x[0-9a-fA-F]{40})", output)
    if peer is None or address is None:
        raise HarnessError(f"`oracle-node init` of node {index} failed: {output[-400:]}")
    return peer.group(1), address.group(1)


@dataclass
class PendingInit:
    """``oracle-node init`` processes started by :func:`start_init`; :meth:`collect` them."""

    root: Path
    passwords: list[str]
    processes: list[subprocess.Popen[str]]

    def collect(self, timeout: float = 180.0) -> list[NodeIdentity]:
        """Wait for every ``init``; their identities (HarnessError if one failed)."""
        identities = []
        for index, proc in enumerate(self.processes, start=1):
            out, _ = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                raise HarnessError(f"`oracle-node init` of node {index} exited "
                                   f"{proc.returncode}: {out[-400:]}")
            peer, address = parse_init_output(out, index)
            identities.append(NodeIdentity(index, self.root / f"node-{index}",
                                           self.passwords[index - 1], peer, address))
        return identities


def start_init(root: Path, n: int, dealt: Sequence[bytes] | None = None) -> PendingInit:
    """Start ``oracle-node init`` for nodes 1..n in parallel (``root/node-<i>/data``).

    ``dealt`` (TRUSTED DEALER only) are the members' share secrets, imported with
    ``--import-bls``; without it the nodes get their shares from the DKG later."""
    if dealt is not None and len(dealt) != n:
        raise HarnessError(f"{len(dealt)} dealt shares for {n} nodes")
    passwords = [secrets.token_hex(16) for _ in range(n)]
    return PendingInit(root, passwords, [
        start_node_init(root / f"node-{i}", None if dealt is None else dealt[i - 1],
                   passwords[i - 1]) for i in range(1, n + 1)])


def init_node_keys(root: Path, n: int,
                   dealt: Sequence[bytes] | None = None) -> list[NodeIdentity]:
    """:func:`start_init` and wait: every node's identity after ``oracle-node init``."""
    return start_init(root, n, dealt).collect()


ConfigTables = dict[str, dict[str, object]]


def base_config(cluster: Cluster, node_dir: Path, lock_path: Path, p2p_port: int,
                http_port: int, bootstrap: list[str]) -> tuple[ConfigTables,
                                                               list[dict[str, object]]]:
    """The harness's node config as (tables, ``[[chains]]`` entries), before any extras."""
    tables: ConfigTables = {
        "node": {"data_dir": str(node_dir / "data"), "cluster_lock": str(lock_path)},
        "network": {"network_id": cluster.network_id, "da_chain": 1, "epoch": 1},
        "p2p": {"listen": f"/ip4/127.0.0.1/tcp/{p2p_port}", "bootstrap": list(bootstrap)},
        "http": {"listen": f"127.0.0.1:{http_port}"},
        "keys": {"password_file": str(node_dir / "password")},
        "timing": {"poll_interval": 0.5, "stagger": 3.0, "rerequest_after": 2.0},
    }
    if node_rollup_supported():
        depth, capacity = cluster.options.circuit
        tables["rollup"] = {"depth": depth, "capacity": capacity}
    chains: list[dict[str, object]] = [
        {"id": chain["rollup_chain_id"], "name": f"chain-{chain['rollup_chain_id']}",
         "rpc": chain["rpc_url"], "evm_chain_id": chain["evm_chain_id"],
         "contract": chain["main"], "start_block": 0, "confirmations": NODE_CONFIRMATIONS,
         # anvil serves WebSocket on the RPC port: newHeads wake the watcher at once
         "ws": True}
        for chain in cluster.state.chains]
    return tables, chains


def merge_extra(tables: ConfigTables, chains: list[dict[str, object]],
                extra: ConfigTables) -> None:
    """Merge ``UpOptions.node_config_extra`` output into a config (in place).

    Each ``extra[table]`` is merged key by key: a list is appended to an existing list (e.g.
    more ``p2p.bootstrap`` peers), anything else replaces or adds the key. ``extra["chains"]``
    applies to every ``[[chains]]`` entry (e.g. ``{"chains": {"confirmations": 4}}``)."""
    for name, values in extra.items():
        targets = chains if name == "chains" else [tables.setdefault(name, {})]
        for target in targets:
            for key, value in values.items():
                old = target.get(key)
                if isinstance(value, list) and isinstance(old, list):
                    target[key] = [*old, *value]
                else:
                    target[key] = value


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise HarnessError(f"node config value {value!r}: only str, int, float, bool and lists")


def render_toml(tables: ConfigTables, chains: list[dict[str, object]]) -> str:
    """TOML text of a node config (tables, then the ``[[chains]]`` entries)."""
    lines = ["# Written by oracle-testnet up (testnet only)."]
    for name, values in tables.items():
        lines += [f"[{name}]", *(f"{k} = {_toml_value(v)}" for k, v in values.items()), ""]
    for chain in chains:
        lines += ["[[chains]]", *(f"{k} = {_toml_value(v)}" for k, v in chain.items()), ""]
    return "\n".join(lines)


def node_config_text(cluster: Cluster, index: int, node_dir: Path, lock_path: Path,
                     p2p_port: int, http_port: int, bootstrap: list[str]) -> str:
    """Node ``index``'s ``node.toml``: the harness's config, ``[rollup]`` from the circuit
    (when the node supports it) and the scenario's ``UpOptions.node_config_extra``."""
    tables, chains = base_config(cluster, node_dir, lock_path, p2p_port, http_port, bootstrap)
    hook = cluster.options.node_config_extra
    if hook is not None:
        merge_extra(tables, chains, hook(cluster, index))
    return render_toml(tables, chains)


def node_lock_path(cluster: Cluster, node_dir: Path) -> Path:
    """The lock path node configs name.

    With ``UpOptions.per_node_lock``: a copy of the shared lock in the node's own folder,
    written here (a rotation rewrites the live lock). Otherwise, after the DKG: the lock the
    node's own ``oracle-node dkg`` wrote (``data/cluster-lock.json``; every member's has the
    same canonical hash, checked before); with the TRUSTED DEALER: the shared
    ``cluster/cluster-lock.json``."""
    shared = cluster.run_dir / "cluster" / "cluster-lock.json"
    if cluster.options.per_node_lock:
        own = node_dir / "cluster-lock.json"
        own.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared, own)
        return own
    if cluster.options.keys == "dkg":
        return node_dir / "data" / "cluster-lock.json"
    return shared


def fund_nodes(cluster: Cluster, identities: Sequence[NodeIdentity]) -> None:
    """Give every node's transaction address ``NODE_FUNDS_WEI`` on every chain."""
    for chain in cluster.state.chains:
        client = EvmClient(chain["rpc_url"])
        try:
            for ident in identities:
                client.rpc("anvil_setBalance", [ident.tx_address, hex(NODE_FUNDS_WEI)])
        finally:
            client.close()


def start_nodes(cluster: Cluster, identities: Sequence[NodeIdentity]) -> list[NodeHandle]:
    """Write the configs (keys and lock already in place), fund the nodes and start them."""
    fund_nodes(cluster, identities)
    ports = [(free_port(), free_port()) for _ in identities]
    handles = []
    for ident, (p2p_port, http_port) in zip(identities, ports, strict=True):
        index, node_dir = ident.index, ident.node_dir
        bootstrap = [f"/ip4/127.0.0.1/tcp/{p}/p2p/{other.peer_id}"
                     for other, (p, _h) in zip(identities, ports, strict=True)
                     if other.index != index]
        config = node_dir / "node.toml"
        config.write_text(node_config_text(cluster, index, node_dir,
                                           node_lock_path(cluster, node_dir), p2p_port,
                                           http_port, bootstrap))
        child = cluster.supervisor.start(f"node-{index}", node_command("run", "--config",
                                                                        str(config)),
                                         log_path=node_dir / "node.log")
        cluster.state.processes.append(_record(f"node-{index}", child.pid, child.log_path,
                                               p2p=p2p_port, http=http_port))
        handles.append(NodeHandle(index, child.process, f"http://127.0.0.1:{http_port}/status",
                                  config, child.log_path, ident.peer_id, ident.tx_address,
                                  {"p2p": p2p_port, "http": http_port}))
    cluster.state.save()
    return handles


def _record(name: str, pid: int, log: Path, **ports: int) -> Any:
    from testnet.harness.rundir import ProcessRecord

    return ProcessRecord(name, pid, str(log), dict(ports))
