"""Oracle node processes of a local cluster: keys, lock, configs, start-up, status probes.

Each node gets ``nodes/node-<i>/``: a password file, its BLS share keystore (dealt by the
harness: TRUSTED DEALER), ``data/`` initialised by ``oracle-node init`` (libp2p identity and
transaction key), and ``node.toml``; every node shares ``cluster/cluster-lock.json``. The
harness funds each node's transaction address on every chain and starts ``oracle-node run``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testnet.anvil import free_port
from testnet.harness.errors import HarnessError
from testnet.harness.signers import DealtSigners
from testnet.sequencer.evm import EvmClient

if TYPE_CHECKING:
    from testnet.harness.cluster import Cluster

NODE_FUNDS_WEI = 100 * 10**18


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


def circuit_mismatch_reason(circuit: tuple[int, int]) -> str | None:
    """None if the node replays with the circuit's (depth, capacity), else why not.

    The node has no rollup-parameter setting yet: it replays with the default
    ``RollupParams()``, so its roots only match blocks of that shape."""
    from oracle_node.rollup.state import RollupParams

    default = RollupParams()
    if (default.depth, default.capacity) != tuple(circuit):
        return (f"the node replays with depth={default.depth}, capacity={default.capacity} "
                f"(no config setting yet), not the requested circuit {circuit[0]},{circuit[1]}")
    return None


def node_unavailable_reason() -> str | None:
    """None if ``oracle-node run`` can run a node, else why not (shown to the user)."""
    if importlib.util.find_spec("oracle_node.app") is None:
        return "oracle_node.app (the node wiring) does not exist yet"
    probe = subprocess.run(node_command("run", "--help"), capture_output=True, text=True,
                           timeout=60)
    if probe.returncode != 0:
        return "`oracle-node run` is not available: " + (probe.stderr.strip()[-200:] or "?")
    return None


def _init_node(node_dir: Path, share_secret: bytes, password: str) -> subprocess.Popen[str]:
    from oracle_node.keys import write_keystore

    node_dir.mkdir(parents=True, exist_ok=True)
    (node_dir / "password").write_text(password + "\n")
    (node_dir / "password").chmod(0o600)
    share_file = node_dir / "bls-share-dealt.json"
    write_keystore(share_file, share_secret, password,
                   description="BLS key share (TRUSTED DEALER: dealt by the testnet harness)")
    return subprocess.Popen(
        node_command("init", "--data-dir", str(node_dir / "data"),
                     "--password-file", str(node_dir / "password"),
                     "--import-bls", str(share_file)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, COLUMNS="200", NO_COLOR="1"))


def _parse_init(output: str, index: int) -> tuple[str, str]:
    peer = re.search(r"peer id:\s+(\S+)", output)
    address = re.search(r"transaction address:\s+(0x[0-9a-fA-F]{40})", output)
    if peer is None or address is None:
        raise HarnessError(f"`oracle-node init` of node {index} failed: {output[-400:]}")
    return peer.group(1), address.group(1)


def _toml_config(cluster: Cluster, index: int, node_dir: Path, lock_path: Path,
                 p2p_port: int, http_port: int, bootstrap: list[str]) -> str:
    lines = [
        "# Written by oracle-testnet up (testnet only).",
        "[node]", f'data_dir = "{node_dir / "data"}"', f'cluster_lock = "{lock_path}"', "",
        "[network]", f"network_id = {cluster.network_id}", "da_chain = 1", "epoch = 1", "",
        "[p2p]", f'listen = "/ip4/127.0.0.1/tcp/{p2p_port}"',
        "bootstrap = [" + ", ".join(f'"{b}"' for b in bootstrap) + "]", "",
        "[http]", f'listen = "127.0.0.1:{http_port}"', "",
        "[keys]", f'password_file = "{node_dir / "password"}"', "",
        "[timing]", "poll_interval = 0.5", "stagger = 3.0", "rerequest_after = 2.0", "",
    ]
    for chain in cluster.state.chains:
        lines += ["[[chains]]", f"id = {chain['rollup_chain_id']}",
                  f'name = "chain-{chain["rollup_chain_id"]}"', f'rpc = "{chain["rpc_url"]}"',
                  f"evm_chain_id = {chain['evm_chain_id']}", f'contract = "{chain["main"]}"',
                  "start_block = 0", "confirmations = 0", ""]
    return "\n".join(lines)


def start_nodes(cluster: Cluster, signers: DealtSigners) -> list[NodeHandle]:
    """Write every node's keys, the lock and the configs; fund the nodes; start them."""
    root = cluster.run_dir / "nodes"
    inits = []
    for share in signers.shares:
        node_dir = root / f"node-{share.index}"
        inits.append(_init_node(node_dir, share.secret.to_bytes(), secrets.token_hex(16)))
    identities = []
    for index, proc in enumerate(inits, start=1):
        out, _ = proc.communicate(timeout=180)
        if proc.returncode != 0:
            raise HarnessError(f"`oracle-node init` of node {index} exited {proc.returncode}: "
                               f"{out[-400:]}")
        identities.append(_parse_init(out, index))
    lock = signers.lock([peer for peer, _ in identities], name=f"testnet-{cluster.network_id}")
    lock_path = cluster.run_dir / "cluster" / "cluster-lock.json"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path.write_text(lock.to_json())
    for chain in cluster.state.chains:
        client = EvmClient(chain["rpc_url"])
        try:
            for _peer, address in identities:
                client.rpc("anvil_setBalance", [address, hex(NODE_FUNDS_WEI)])
        finally:
            client.close()
    ports = [(free_port(), free_port()) for _ in identities]
    handles = []
    for index, ((peer, address), (p2p_port, http_port)) in enumerate(
            zip(identities, ports, strict=True), start=1):
        node_dir = root / f"node-{index}"
        bootstrap = [f"/ip4/127.0.0.1/tcp/{p}/p2p/{other}"
                     for j, ((other, _), (p, _h)) in enumerate(zip(identities, ports,
                                                                   strict=True), start=1)
                     if j != index]
        config = node_dir / "node.toml"
        config.write_text(_toml_config(cluster, index, node_dir, lock_path, p2p_port,
                                       http_port, bootstrap))
        child = cluster.supervisor.start(f"node-{index}", node_command("run", "--config",
                                                                        str(config)),
                                         log_path=node_dir / "node.log")
        cluster.state.processes.append(_record(f"node-{index}", child.pid, child.log_path,
                                               p2p=p2p_port, http=http_port))
        handles.append(NodeHandle(index, child.process, f"http://127.0.0.1:{http_port}/status",
                                  config, child.log_path, peer, address,
                                  {"p2p": p2p_port, "http": http_port}))
    cluster.state.save()
    return handles


def _record(name: str, pid: int, log: Path, **ports: int) -> Any:
    from testnet.harness.rundir import ProcessRecord

    return ProcessRecord(name, pid, str(log), dict(ports))
