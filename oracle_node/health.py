"""Health and status: ``/metrics``, ``/livez``, ``/readyz`` (with reason codes) and ``/status``.

A trio task (:class:`HealthMonitor`) refreshes a snapshot once per ``interval``: connected
peers, each chain's head (an ``eth_blockNumber`` under a timeout), last confirmed block per
chain and the readiness reasons. A small ``ThreadingHTTPServer`` in a daemon thread serves
the latest snapshot, so HTTP never touches trio state (prometheus-client's own exposition
is thread-safe).

Readiness reasons: ``starting`` (no snapshot yet), ``too_few_peers`` (fewer than t-1
connected members: this node cannot help reach a threshold), ``chain_unreachable:<id>``
(a chain's RPC did not answer), ``stale:<id>`` (a chain's head did not move for
``stale_after`` seconds). Liveness fails (``stalled``) when the monitor itself stopped
refreshing for 3 intervals.

:func:`run_checks` is ``oracle-node doctor``: config, password, keys decrypt, cluster lock and
share, the lock names this node's peer id, per RPC endpoint reachability, chain id, contract
code, transaction-key balance and clock skew, and TCP reachability of every bootstrap peer;
each failure says how to fix it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from oracle_node.config import ChainConfig
from oracle_node.errors import ConfigError, OracleNodeError
from oracle_node.metrics import NodeMetrics
from oracle_node.multiaddr import parse_tcp_multiaddr
from oracle_node.ports import ChainRpc, Transport
from oracle_node.store.db import NodeStore
from oracle_node.types import RollupChainId

if TYPE_CHECKING:
    from trio import TaskStatus

log = logging.getLogger("oracle_node.health")


class HealthState:
    """The latest snapshot, shared between the trio monitor and the HTTP thread."""

    def __init__(self, interval: float) -> None:
        """``interval`` is the monitor's refresh period (seconds)."""
        self._lock = threading.Lock()
        self._interval = interval
        self._refreshed = 0.0
        self._ready_reasons: list[str] = ["starting"]
        self._status: dict[str, Any] = {}

    def update(self, status: dict[str, Any], ready_reasons: list[str]) -> None:
        """Replace the snapshot (called by the monitor)."""
        with self._lock:
            self._status = status
            self._ready_reasons = list(ready_reasons)
            self._refreshed = time.monotonic()

    def live(self) -> tuple[bool, str]:
        """(alive, reason)."""
        with self._lock:
            if self._refreshed and time.monotonic() - self._refreshed > 3 * self._interval:
                return False, "stalled"
            return True, "ok"

    def ready(self) -> tuple[bool, list[str]]:
        """(ready, reasons)."""
        with self._lock:
            return not self._ready_reasons, list(self._ready_reasons)

    def status(self) -> dict[str, Any]:
        """The JSON status document."""
        with self._lock:
            return dict(self._status)


class HealthMonitor:
    """Refreshes :class:`HealthState` and the peer/head gauges (a trio task)."""

    def __init__(self, *, state: HealthState, metrics: NodeMetrics, transport: Transport,
                 chains: Mapping[RollupChainId, ChainRpc], store: NodeStore, threshold: int,
                 extra: Callable[[], dict[str, Any]] | None = None, interval: float = 5.0,
                 rpc_timeout: float = 3.0, stale_after: float = 120.0) -> None:
        """Wire the monitor; ``extra`` adds fields (e.g. tracker summaries) to ``/status``."""
        self._state = state
        self._metrics = metrics
        self._transport = transport
        self._chains = dict(chains)
        self._store = store
        self._threshold = threshold
        self._extra = extra
        self._interval = interval
        self._rpc_timeout = rpc_timeout
        self._stale_after = stale_after
        self._heads: dict[int, tuple[int, float]] = {}

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Refresh forever."""
        task_status.started()
        while True:
            await self.refresh()
            await trio.sleep(self._interval)

    async def refresh(self) -> None:
        """One snapshot."""
        reasons: list[str] = []
        peers = self._transport.connected_peers()
        self._metrics.set(self._metrics.peers, len(peers))
        if len(peers) < self._threshold - 1:
            reasons.append("too_few_peers")
        heads: dict[str, int | None] = {}
        now = trio.current_time()
        read = await self._read_heads()
        for chain in sorted(self._chains):
            head = read.get(chain)
            heads[str(chain)] = head
            if head is None:
                reasons.append(f"chain_unreachable:{chain}")
                continue
            self._metrics.set(self._metrics.chain_head, head, chain=chain)
            last = self._heads.get(chain)
            if last is None or head != last[0]:
                self._heads[chain] = (head, now)
            elif now - last[1] > self._stale_after:
                reasons.append(f"stale:{chain}")
        status: dict[str, Any] = {
            "peers": sorted(peers), "peer_count": len(peers),
            "chain_heads": heads,
            **progress_from_store(self._store, [int(c) for c in self._chains]),
            "ready_reasons": reasons,
        }
        if self._extra is not None:
            status.update(self._extra())
        self._state.update(status, reasons)


    async def _read_heads(self) -> dict[RollupChainId, int]:
        """Every chain's head, read concurrently: a refresh takes one ``rpc_timeout`` at
        most however many chains hang (sequential reads could outlast the liveness window
        of 3 intervals). A chain that failed or timed out is missing."""
        heads: dict[RollupChainId, int] = {}

        async def read(chain: RollupChainId, rpc: ChainRpc) -> None:
            with trio.move_on_after(self._rpc_timeout):
                try:
                    heads[chain] = await rpc.block_number()
                except OracleNodeError:
                    pass

        async with trio.open_nursery() as nursery:
            for chain, rpc in self._chains.items():
                nursery.start_soon(read, chain, rpc)
        return heads


def progress_from_store(store: NodeStore, chains: Sequence[int]) -> dict[str, Any]:
    """``last_verified_block``, per-chain ``last_confirmed_block`` and ``lag`` (verified −
    confirmed): the progress part of ``/status``, also what ``oracle-node status`` shows
    from the database when the node is down."""
    confirmed = store.last_confirmed()
    verified = store.last_verified_block()
    return {"last_verified_block": verified,
            "last_confirmed_block": {str(c): confirmed.get(c, 0) for c in chains},
            "lag": {str(c): verified - confirmed.get(c, 0) for c in chains}}


def serve_http(state: HealthState, metrics: NodeMetrics, host: str,
               port: int) -> ThreadingHTTPServer:
    """Start the HTTP server in a daemon thread; call ``shutdown()`` on the result to stop.

    Raises :class:`ConfigError` (naming ``http.listen``) when ``host:port`` cannot be bound.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, metrics.render(), "text/plain; version=0.0.4")
            elif path == "/livez":
                ok, reason = state.live()
                self._send(200 if ok else 503, reason.encode(), "text/plain")
            elif path == "/readyz":
                ok, reasons = state.ready()
                body = "ok" if ok else "\n".join(reasons)
                self._send(200 if ok else 503, body.encode(), "text/plain")
            elif path == "/status":
                self._send(200, json.dumps(state.status(), sort_keys=True).encode(),
                           "application/json")
            else:
                self._send(404, b"not found", "text/plain")

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http " + format, *args)

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except (OSError, OverflowError) as err:  # port in use or > 65535, address not local, …
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ConfigError(f"http.listen: cannot listen on {host}:{port}: {reason}") from err
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="oracle-http", daemon=True).start()
    return server


# -- oracle-node doctor -----------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One doctor check: what, whether it passed, details and how to fix a failure."""

    name: str
    ok: bool
    detail: str = ""
    fix: str = ""


async def _rpc_checks(chain: ChainConfig, tx_address: str | None) -> list[Check]:
    from oracle_node.chain.rpc import HttpTransport, RpcClient

    out: list[Check] = []
    for i, url in enumerate(chain.rpc):
        name = f"chain {chain.id} rpc[{i}]"
        transport = HttpTransport(url)
        client = RpcClient(transport, name=name, timeout=5.0)
        try:
            with trio.fail_after(10):
                evm_id = await client.chain_id()
                code = await client.request("eth_getCode", [chain.contract, "latest"])
                head = await client.get_block("latest")
                balance = (int(await client.request("eth_getBalance", [tx_address, "latest"]),
                               16) if tx_address else None)
        except (OracleNodeError, trio.TooSlowError, ValueError) as err:
            # transport errors already name the URL; a timeout has no message at all
            reason = str(err) or "no answer (timeout)"
            out.append(Check(name, False, reason if url in reason else f"{url}: {reason}",
                             "check the URL, the node's sync state and the firewall"))
            continue
        finally:  # close the HTTP client on failures too, not only after a full answer
            await transport.aclose()
        out.append(Check(name, True, f"{url} answers"))
        out.append(Check(f"chain {chain.id} chain id", evm_id == chain.evm_chain_id,
                         f"RPC reports {evm_id}, config {chain.evm_chain_id}",
                         f"set chains.evm_chain_id = {evm_id} or use an RPC of the right chain"))
        out.append(Check(f"chain {chain.id} contract code", code not in ("0x", "", None),
                         chain.contract,
                         "wrong chains.contract address, or the contract is not deployed on "
                         "this chain"))
        if head is not None:
            skew = time.time() - head.timestamp
            out.append(Check(f"chain {chain.id} clock skew", abs(skew) < 120,
                             f"local clock - latest block time = {skew:.0f} s",
                             "sync the clock with NTP (chrony/systemd-timesyncd), or the RPC "
                             "node is not synced"))
        if balance is not None:
            out.append(Check(f"chain {chain.id} tx balance", balance > 0,
                             f"{tx_address}: {balance} wei",
                             f"fund {tx_address} on chain {chain.id} (it pays confirmations)"))
    return out


MULTISTREAM_HEADER = b"\x13/multistream/1.0.0\n"
"""The length-prefixed multistream-select header every libp2p listener answers with."""


async def probe_libp2p_listener(host: str, port: int, timeout: float = 3.0) -> str | None:
    """None when a libp2p listener answers multistream-select at host:port, else why not.

    A bare TCP connect proves little (proxies and unrelated services accept connections);
    the listener must echo the multistream header.
    """
    try:
        with trio.fail_after(timeout):
            stream = await trio.open_tcp_stream(host, port)
            try:
                await stream.send_all(MULTISTREAM_HEADER)
                answer = b""
                while len(answer) < len(MULTISTREAM_HEADER):
                    chunk = await stream.receive_some(64)
                    if not chunk:
                        break
                    answer += chunk
            finally:
                await stream.aclose()
    except (OSError, trio.TooSlowError, trio.BrokenResourceError) as err:
        return repr(err) if not isinstance(err, trio.TooSlowError) else "no answer (timeout)"
    if not answer.startswith(MULTISTREAM_HEADER):
        return f"not a libp2p listener (answered {answer[:24]!r})"
    return None


async def _peer_checks(bootstrap: tuple[str, ...]) -> list[Check]:
    out = []
    for addr in bootstrap:
        parsed = parse_tcp_multiaddr(addr)  # validated with the config
        host, port = parsed.host, parsed.port
        problem = await probe_libp2p_listener(host, port)
        if problem is None:
            out.append(Check(f"peer {addr[-12:]}", True, f"{host}:{port} libp2p listener"))
        else:
            out.append(Check(f"peer {addr[-12:]}", False, f"{host}:{port}: {problem}",
                             "check the peer's p2p.listen port, firewall and address"))
    return out


async def run_checks(config_path: Path, password_file: Path | None) -> list[Check]:
    """Every doctor check, in order; stops early only when the config itself is invalid."""
    from oracle_node.config import load_config
    from oracle_node.keys import (
        BLS_SHARE_FILE,
        IDENTITY_FILE,
        TX_KEY_FILE,
        load_lock,
        load_share,
        read_keystore,
        read_password,
    )

    try:
        cfg = load_config(config_path)
    except ConfigError as err:
        return [Check("config", False, str(err), "edit node.toml (see docs/operator.md)")]
    checks = [Check("config", True, str(config_path))]
    try:
        password = read_password(password_file or cfg.password_file)
    except ConfigError as err:
        return [*checks, Check("password", False, str(err),
                               "set keys.password_file or ORACLE_NODE_PASSWORD")]
    peer_id = tx_address = None
    for label, file in (("identity key", IDENTITY_FILE), ("transaction key", TX_KEY_FILE)):
        try:
            secret = read_keystore(cfg.keys_dir / file, password)
            if file == IDENTITY_FILE:
                from oracle_node.p2p.identity import identity_from_bytes, peer_id_of

                peer_id = peer_id_of(identity_from_bytes(secret))
                detail = f"peer id {peer_id}"
            else:
                from eth_account import Account

                tx_address = str(Account.from_key(secret).address)
                detail = f"address {tx_address}"
            checks.append(Check(label, True, detail))
        except OracleNodeError as err:
            checks.append(Check(label, False, str(err),
                                "run `oracle-node init --data-dir …` or fix the password"))
    try:
        lock = load_lock(cfg.cluster_lock)
        share = load_share(lock, cfg.bls_keystore or cfg.keys_dir / BLS_SHARE_FILE, password)
        name = lock.members[share.index - 1].name
        checks.append(Check("cluster lock and BLS share", True,
                            f"member {share.index} of {len(lock.members)}, t={lock.threshold}"))
        checks.append(Check("peer id in lock", name == peer_id,
                            f"lock names member {share.index} {name!r}",
                            "the lock was made for another identity: use that node's keys "
                            "or redo the ceremony with this peer id"))
    except OracleNodeError as err:
        checks.append(Check("cluster lock and BLS share", False, str(err),
                            "copy the ceremony's cluster-lock.json and this member's "
                            "keystore (keys/bls-share.json), same password"))
    for chain in cfg.chains:
        checks += await _rpc_checks(chain, tx_address)
    checks += await _peer_checks(cfg.bootstrap)
    return checks
