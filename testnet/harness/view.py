"""The live progress view of ``oracle-testnet up``: chains, nodes, the last block's latency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from testnet.harness.monitor import ChainMonitor


@dataclass
class NodeProbe:
    """Where to ask one node how it is: its member index, pid and HTTP status URL."""

    index: int
    status_url: str | None
    alive: bool = True


def probe_node(url: str | None, *, timeout: float = 0.5) -> dict[str, Any]:
    """GET a node's ``/status`` JSON; a dict with ``error`` if it does not answer."""
    if url is None:
        return {"error": "no status endpoint"}
    try:
        resp = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as err:
        return {"error": type(err).__name__}
    if resp.status_code != 200:
        return {"error": f"HTTP {resp.status_code}"}
    try:
        body = resp.json()
    except ValueError:
        return {"error": "not JSON"}
    return body if isinstance(body, dict) else {"value": body}


def _short(body: dict[str, Any]) -> str:
    if "error" in body:
        return f"[red]{body['error']}"
    parts = []
    if "peer_count" in body:
        parts.append(f"peers={body['peer_count']}")
    if "last_verified_block" in body:
        parts.append(f"verified={body['last_verified_block']}")
    confirmed = body.get("last_confirmed_block")
    if isinstance(confirmed, dict):
        parts.append("confirmed=" + ",".join(f"{k}:{v}" for k, v in sorted(confirmed.items())))
    reasons = body.get("ready_reasons")
    parts.append("ready" if reasons == [] else f"not ready: {reasons}")
    return " ".join(parts)[:90]


def render(monitor: ChainMonitor, nodes: list[tuple[NodeProbe, dict[str, Any]]], *,
           title: str, signing_path: str, target_blocks: int | None,
           notes: list[str]) -> Group:
    """Build the renderable shown by rich.Live."""
    chains = Table(title="chains", expand=False)
    for col in ("rollup chain", "rpc", "committed", "proved", "confirmed", "executed", "error"):
        chains.add_column(col)
    for view in monitor.views:
        h = view.highest
        chains.add_row(str(view.chain_id), view.url, str(h["committed"]), str(h["proven"]),
                       str(h["confirmed"]), str(h["executed"]), view.error[:40])
    node_table = Table(title=f"signers ({signing_path})")
    for col in ("member", "process", "status"):
        node_table.add_column(col)
    for probe, body in nodes:
        node_table.add_row(str(probe.index), "[green]up" if probe.alive else "[red]down",
                           _short(body))
    latency = monitor.last_latency()
    done = monitor.executed_everywhere()
    line = Text(f"executed everywhere: {done}"
                + (f"/{target_blocks}" if target_blocks else "")
                + "   last block latency (last BlockProven -> confirmed on all chains): "
                + (f"{latency:.2f}s" if latency is not None else "-"))
    parts: list[Any] = [chains, node_table, line]
    parts += [Text(n, style="yellow") for n in notes[-4:]]
    return Group(Panel(Group(*parts), title=title))
