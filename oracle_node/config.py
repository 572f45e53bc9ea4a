"""The node's TOML configuration (``node.toml``), loaded with ``tomllib`` and validated.

Every problem is a :class:`~oracle_node.errors.ConfigError` that names the key and the
expected form, e.g. ``chains[1].contract: expected a 0x-prefixed 20-byte hex address, got
'0x12'``. docs/operator.md has the reference; deploy/node/node.example.toml an example.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oracle_node.errors import ConfigError
from oracle_node.multiaddr import MultiaddrError, parse_tcp_multiaddr

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HOSTPORT = re.compile(r"^[\w.\-]+:\d{1,5}$")


@dataclass(frozen=True)
class ChainConfig:
    """One connected chain."""

    id: int
    name: str
    rpc: tuple[str, ...]
    evm_chain_id: int
    contract: str
    start_block: int = 0
    confirmations: int = 12
    finalized_tag: bool = False
    ws: str | None = None
    """Optional ``eth_subscribe("newHeads")`` endpoint: a new head wakes the watcher at once
    (``oracle_node.chain.ws``); polling every ``timing.poll_interval`` continues regardless."""


def ws_url_for(value: object, rpc: tuple[str, ...], where: str) -> str | None:
    """The ``ws`` key: a ws(s):// URL, ``true`` (the first http(s) ``rpc`` URL with its
    scheme swapped, e.g. anvil serves both on one port), or ``false``/absent (None)."""
    if value is None or value is False:
        return None
    if value is True:
        for url in rpc:
            if url.startswith(("http://", "https://")):
                return "ws" + url.removeprefix("http")
            if url.startswith(("ws://", "wss://")):
                return url
        raise ConfigError(f"{where}ws: true needs an http(s) or ws(s) URL in rpc")
    if isinstance(value, str) and re.match(r"^wss?://", value):
        return value
    raise ConfigError(f"{where}ws: expected a ws(s):// URL, true or false, got {value!r}")


@dataclass(frozen=True)
class TimingConfig:
    """Pipeline timing (seconds)."""

    rerequest_after: float = 3.0
    request_timeout: float = 5.0
    stagger: float = 12.0
    deadline: float = 300.0
    poll_interval: float = 2.0


@dataclass(frozen=True)
class RollupConfig:
    """The rollup core's shape (must match the deployed circuit and contracts)."""

    depth: int = 16
    capacity: int = 4
    token_slots: int = 2


@dataclass(frozen=True)
class GovernanceConfig:
    """Signer-set rotation: the governance chain and its ``signer_sets`` contract."""

    chain: int
    signer_sets: str
    from_block: int = 0
    grace: float = 60.0


@dataclass(frozen=True)
class NodeConfig:
    """The whole validated configuration."""

    data_dir: Path
    cluster_lock: Path
    network_id: int
    da_chain: int
    chains: tuple[ChainConfig, ...]
    listen: str
    bootstrap: tuple[str, ...] = ()
    epoch: int = 1
    http_listen: str = "127.0.0.1:9100"
    password_file: Path | None = None
    bls_keystore: Path | None = None
    timing: TimingConfig = field(default_factory=TimingConfig)
    log_format: str = "kv"
    governance: GovernanceConfig | None = None
    """Optional ([network] governance_chain + signer_sets): follow signer-set rotations."""
    rollup: RollupConfig = field(default_factory=RollupConfig)

    @property
    def db_path(self) -> Path:
        """The node database."""
        return self.data_dir / "node.db"

    @property
    def evidence_dir(self) -> Path:
        """Where equivocation evidence is written."""
        return self.data_dir / "evidence"

    @property
    def keys_dir(self) -> Path:
        """Encrypted key files written by ``oracle-node init``."""
        return self.data_dir / "keys"


def _get(table: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...],
         form: str, default: Any = ...) -> Any:
    if key not in table:
        if default is ...:
            raise ConfigError(f"{where}{key}: missing; expected {form}")
        return default
    value = table[key]
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{where}{key}: expected {form}, got {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}{key}: expected {form}, got {value!r}")
    return value


def _int(table: Mapping[str, Any], key: str, where: str, low: int, high: int,
         default: Any = ...) -> int:
    form = f"an integer in {low}..{high}"
    value = _get(table, key, where, int, form, default)
    if not low <= value <= high:
        raise ConfigError(f"{where}{key}: expected {form}, got {value!r}")
    return int(value)


def _float(table: Mapping[str, Any], key: str, where: str, default: float) -> float:
    value = _get(table, key, where, (int, float), "a positive number of seconds", default)
    if value <= 0:
        raise ConfigError(f"{where}{key}: expected a positive number of seconds, got {value!r}")
    return float(value)


def _table(doc: Mapping[str, Any], key: str, *, required: bool = True) -> Mapping[str, Any]:
    if key not in doc:
        if required:
            raise ConfigError(f"[{key}]: missing table")
        return {}
    value = doc[key]
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}]: expected a table")
    return value


def _path(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _chain(item: Any, index: int) -> ChainConfig:
    where = f"chains[{index}]."
    if not isinstance(item, dict):
        raise ConfigError(f"chains[{index}]: expected a table ([[chains]])")
    rpc = _get(item, "rpc", where, (str, list), "an http(s)/ws(s) URL or a list of URLs")
    urls = (rpc,) if isinstance(rpc, str) else tuple(rpc)
    if not urls or any(not isinstance(u, str) or not re.match(r"^(https?|wss?)://", u)
                       for u in urls):
        raise ConfigError(f"{where}rpc: expected an http(s)/ws(s) URL or a list of URLs, "
                          f"got {rpc!r}")
    contract = _get(item, "contract", where, str, "a 0x-prefixed 20-byte hex address")
    if not _ADDRESS.match(contract):
        raise ConfigError(f"{where}contract: expected a 0x-prefixed 20-byte hex address, "
                          f"got {contract!r}")
    return ChainConfig(
        id=_int(item, "id", where, 1, 255),
        name=_get(item, "name", where, str, "a short name", f"chain{item.get('id')}"),
        rpc=urls, evm_chain_id=_int(item, "evm_chain_id", where, 1, 2**64 - 1),
        contract=contract, start_block=_int(item, "start_block", where, 0, 2**63, 0),
        confirmations=_int(item, "confirmations", where, 0, 10_000, 12),
        finalized_tag=_get(item, "finalized_tag", where, bool, "true or false", False),
        ws=ws_url_for(item.get("ws"), urls, where))


def parse_config(doc: Mapping[str, Any], *, base_dir: Path) -> NodeConfig:
    """Validate a parsed TOML document; relative paths are resolved against ``base_dir``."""
    known = {"node", "network", "p2p", "chains", "timing", "http", "keys", "log", "rollup"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown top-level key; expected one of "
                          f"{', '.join(sorted(known))}")
    node = _table(doc, "node")
    network = _table(doc, "network")
    p2p = _table(doc, "p2p")
    chains_raw = doc.get("chains")
    if not isinstance(chains_raw, list) or not chains_raw:
        raise ConfigError("chains: expected at least one [[chains]] table")
    chains = tuple(_chain(item, i) for i, item in enumerate(chains_raw))
    ids = [c.id for c in chains]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"chains[*].id: expected distinct rollup chain ids, got {ids}")
    if len({c.evm_chain_id for c in chains}) != len(chains):
        raise ConfigError("chains[*].evm_chain_id: expected distinct EVM chain ids")
    da_chain = _int(network, "da_chain", "network.", 1, 255)
    if da_chain not in ids:
        raise ConfigError(f"network.da_chain: expected one of the configured chain ids {ids}, "
                          f"got {da_chain}")
    listen = _get(p2p, "listen", "p2p.", str, "a multiaddr like /ip4/0.0.0.0/tcp/9000")
    try:
        parse_tcp_multiaddr(listen)
    except MultiaddrError as err:
        raise ConfigError(f"p2p.listen: {err}") from err
    bootstrap = _get(p2p, "bootstrap", "p2p.", list, "a list of multiaddrs with /p2p/<id>", [])
    for i, addr in enumerate(bootstrap):
        try:
            parse_tcp_multiaddr(str(addr) if isinstance(addr, str) else repr(addr),
                                require_peer=True)
        except MultiaddrError as err:
            raise ConfigError(f"p2p.bootstrap[{i}]: {err}") from err
    http = _table(doc, "http", required=False)
    http_listen = _get(http, "listen", "http.", str, "host:port", "127.0.0.1:9100")
    if not _HOSTPORT.match(http_listen) or int(http_listen.rsplit(":", 1)[1]) > 65535:
        raise ConfigError(f"http.listen: expected host:port (port 0..65535), "
                          f"got {http_listen!r}")
    keys = _table(doc, "keys", required=False)
    password_file = _get(keys, "password_file", "keys.", str, "a file path", None)
    bls = _get(keys, "bls_keystore", "keys.", str, "a file path", None)
    timing = _table(doc, "timing", required=False)
    log = _table(doc, "log", required=False)
    log_format = _get(log, "format", "log.", str, '"kv" or "json"', "kv")
    if log_format not in ("kv", "json"):
        raise ConfigError(f'log.format: expected "kv" or "json", got {log_format!r}')
    data_dir = _path(_get(node, "data_dir", "node.", str, "a directory path"), base_dir)
    governance = _governance(network, ids)
    return NodeConfig(
        data_dir=data_dir,
        cluster_lock=_path(_get(node, "cluster_lock", "node.", str, "a file path"), base_dir),
        network_id=_int(network, "network_id", "network.", 0, 2**256 - 1),
        epoch=_int(network, "epoch", "network.", 1, 2**64, 1),
        da_chain=da_chain, chains=chains, listen=listen, bootstrap=tuple(bootstrap),
        http_listen=http_listen,
        password_file=_path(password_file, base_dir) if password_file else None,
        bls_keystore=_path(bls, data_dir) if bls else None,
        timing=TimingConfig(*(_float(timing, k, "timing.", d) for k, d in (
            ("rerequest_after", 3.0), ("request_timeout", 5.0), ("stagger", 12.0),
            ("deadline", 300.0), ("poll_interval", 2.0)))),
        log_format=log_format, governance=governance,
        rollup=_rollup(_table(doc, "rollup", required=False)))


def _rollup(table: Mapping[str, Any]) -> RollupConfig:
    """``[rollup]``: depth (even, 2..32), capacity (1..1024), token_slots (1..10)."""
    known = ("capacity", "depth", "token_slots")
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"rollup.{unknown[0]}: unknown key; expected one of "
                          f"{', '.join(known)}")
    depth = _int(table, "depth", "rollup.", 2, 32, 16)
    if depth % 2:
        raise ConfigError(f"rollup.depth: expected an even integer in 2..32, got {depth}")
    return RollupConfig(depth=depth, capacity=_int(table, "capacity", "rollup.", 1, 1024, 4),
                        token_slots=_int(table, "token_slots", "rollup.", 1, 10, 2))


def _governance(network: Mapping[str, Any], ids: list[int]) -> GovernanceConfig | None:
    """``network.governance_chain`` + ``network.signer_sets`` (both or neither)."""
    if "governance_chain" not in network and "signer_sets" not in network:
        return None
    chain = _int(network, "governance_chain", "network.", 1, 255)
    if chain not in ids:
        raise ConfigError(f"network.governance_chain: expected one of the configured chain "
                          f"ids {ids}, got {chain}")
    address = _get(network, "signer_sets", "network.", str,
                   "a 0x-prefixed 20-byte hex address")
    if not _ADDRESS.match(address):
        raise ConfigError(f"network.signer_sets: expected a 0x-prefixed 20-byte hex address, "
                          f"got {address!r}")
    return GovernanceConfig(
        chain=chain, signer_sets=address,
        from_block=_int(network, "signer_sets_from_block", "network.", 0, 2**63, 0),
        grace=_float(network, "rotation_grace", "network.", 60.0))


def load_config(path: Path) -> NodeConfig:
    """Read and validate ``path`` (raises :class:`ConfigError`)."""
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as err:
        raise ConfigError(f"cannot read config {path}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"cannot read config {path}: not UTF-8 text") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    return parse_config(doc, base_dir=path.parent.resolve())
