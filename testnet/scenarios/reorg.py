"""Scenario ``reorg``: chain reorgs shallower and deeper than the nodes' finality rule.

The harness's nodes normally use ``confirmations = 0`` (anvil never reorganises by itself);
this scenario gives them ``confirmations = 4`` on every chain (``UpOptions.node_config_extra``)
and starts anvil with the full history (``anvil_reorg`` fails with "Required data
unavailable" on a ``--prune-history`` chain). Anvil mines an empty block every second
(``evm_mine`` from the tick) so that finality advances like on a real chain.

1. Shallow: as soon as a ``BlockProven`` lands on chain 2 while it is < 4 blocks deep, the
   chain is reorganised (``anvil_reorg``) from that block: the orphaned branch is replaced by
   a branch holding an extra transaction and then the same transactions (what a real reorg
   does: the orphaned transactions are mined again). The nodes never saw the orphaned
   event (it was never final), so they retract nothing and confirm from the new branch.
2. Deep: once a later block's ``BlockProven`` and ``FinalRootConfirmed`` on chain 2 are
   final for the nodes, chain 2 is reorganised from below that ``BlockProven`` (depth > 4)
   the same way. Every node's watcher retracts what it emitted from the orphaned branch and
   re-reads the new one; since the orphaned transactions (including the confirmation) are
   mined again, the block stays confirmed exactly once.

Automine is paused while a reorg is prepared so that no transaction lands between reading
the branch and replacing it; transactions sent meanwhile wait in the pool and are mined
right after. Checks: nothing wrong confirmed; every proved block confirmed exactly once and
executed on every chain; no node retracted anything after the shallow reorg; every node
rewound chain 2 after the deep one.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from rich.console import Console

from testnet.anvil import DEV_PRIVATE_KEYS
from testnet.harness.cluster import Cluster
from testnet.harness.monitor import TOPIC_CONFIRMED, TOPIC_EXECUTED, TOPIC_PROVEN
from testnet.scenarios.base import ScenarioResult, run_with_hooks, scenario_options
from testnet.sequencer.evm import EvmClient

CONFIRMATIONS = 4
"""The nodes' finality rule in this scenario (blocks below the head)."""
REORG_CHAIN = 2
DEEP_MAX = 40
"""Deepest reorg the scenario makes (it waits for a candidate at most this deep)."""
BLOCKS_AFTER_DEEP = 1
"""Rollup blocks proved after the deep reorg that must be confirmed before the run ends."""
FILLER = str(Account.from_key(DEV_PRIVATE_KEYS[9]).address)
"""An otherwise unused dev account: its 0-value transfer opens the new branch."""
_METRIC = re.compile(r'^oracle_chain_events_total\{([^}]*)\}\s+([0-9.eE+-]+)$')


def node_reorg_metrics(cluster: Cluster) -> dict[int, dict[str, float]]:
    """Per node: ``watcher_retracted`` and ``watcher_reorg`` totals on the reorged chain."""
    out: dict[int, dict[str, float]] = {}
    for node in cluster.nodes:
        counts = {"watcher_retracted": 0.0, "watcher_reorg": 0.0}
        if node.status_url is None:
            continue
        try:
            text = httpx.get(node.status_url.replace("/status", "/metrics"), timeout=3.0).text
        except httpx.HTTPError:
            continue
        for line in text.splitlines():
            match = _METRIC.match(line)
            if match is None:
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            if labels.get("chain") in (str(REORG_CHAIN), f"chain-{REORG_CHAIN}") and \
                    labels.get("event") in counts:
                counts[labels["event"]] += float(match.group(2))
        out[node.index] = counts
    return out


def _logs(client: EvmClient, address: str, topic: bytes, low: int,
          high: int) -> list[tuple[int, int, str]]:
    """(rollup block, L1 height, L1 block hash) of each log of ``topic`` in [low, high]."""
    raw = client.rpc("eth_getLogs", [{"address": address, "fromBlock": hex(low),
                                      "toBlock": hex(high), "topics": ["0x" + topic.hex()]}])
    return [(int(entry["topics"][1], 16), int(entry["blockNumber"], 16),
             str(entry["blockHash"])) for entry in raw]


def chain_facts(chain: dict[str, Any]) -> dict[str, dict[int, list[tuple[int, str]]]]:
    """Canonical ``proven``/``confirmed``/``executed`` logs of ``chain``: rollup block ->
    [(L1 height, L1 block hash)]."""
    client = EvmClient(chain["rpc_url"])
    try:
        head = client.block_number()
        out: dict[str, dict[int, list[tuple[int, str]]]] = {}
        for kind, topic in (("proven", TOPIC_PROVEN), ("confirmed", TOPIC_CONFIRMED),
                            ("executed", TOPIC_EXECUTED)):
            found: dict[int, list[tuple[int, str]]] = {}
            for number, height, block_hash in _logs(client, chain["main"], topic, 0, head):
                found.setdefault(number, []).append((height, block_hash))
            out[kind] = found
        return out
    finally:
        client.close()


def reorg_chain(client: EvmClient, fork_height: int) -> tuple[int, list[str], int]:
    """Replace every block from ``fork_height`` up with a new branch: a filler transfer, then
    the orphaned transactions mined again at the same offsets. Automine must be paused.
    Returns (depth, the orphaned block hashes, replayed transaction count)."""
    head = client.block_number()
    depth = head - fork_height + 1
    pairs: list[list[Any]] = [[{"from": FILLER, "to": FILLER, "value": "0x0"}, 0]]
    orphaned = []
    for offset, height in enumerate(range(fork_height, head + 1)):
        block = client.rpc("eth_getBlockByNumber", [hex(height), False])
        orphaned.append(str(block["hash"]))
        for tx_hash in block["transactions"]:
            pairs.append([client.rpc("eth_getRawTransactionByHash", [tx_hash]), offset])
    client.rpc("anvil_reorg", [depth, pairs])
    return depth, orphaned, len(pairs) - 1


class Reorg:
    """The scenario's state machine, driven from the harness's ``on_tick``/``stop_when``."""

    def __init__(self, result: ScenarioResult) -> None:
        self.result = result
        self.phase = "shallow"
        self.last_mine = 0.0
        self.last_check = 0.0
        self.shallow: dict[str, Any] = {}
        self.deep: dict[str, Any] = {}
        self.metrics_before_deep: dict[int, dict[str, float]] = {}
        self.metrics_end: dict[int, dict[str, float]] = {}
        self.facts: dict[int, dict[str, dict[int, list[tuple[int, str]]]]] = {}

    def config_extra(self, cluster: Cluster, index: int) -> dict[str, dict[str, object]]:
        """``UpOptions.node_config_extra``: the finality rule of this scenario."""
        del cluster, index
        return {"chains": {"confirmations": CONFIRMATIONS}}

    def _chain(self, cluster: Cluster) -> dict[str, Any]:
        return next(c for c in cluster.state.chains if c["rollup_chain_id"] == REORG_CHAIN)

    def on_tick(self, cluster: Cluster) -> None:
        """Mine the heartbeat blocks; make the shallow, then the deep reorg."""
        if time.monotonic() - self.last_mine >= 1.0:
            self.last_mine = time.monotonic()
            for chain in cluster.state.chains:
                client = EvmClient(chain["rpc_url"])
                try:
                    client.rpc("evm_mine", [])
                finally:
                    client.close()
        if self.phase == "shallow":
            self._try(cluster, deep=False)
        elif self.phase == "deep" and cluster.monitor is not None and \
                cluster.monitor.executed_everywhere() > self.shallow["block"]:
            if not self.metrics_before_deep:
                self.metrics_before_deep = node_reorg_metrics(cluster)
            self._try(cluster, deep=True)

    def _try(self, cluster: Cluster, *, deep: bool) -> None:
        """Reorg chain 2 from below a suitable ``BlockProven`` if there is one now."""
        chain = self._chain(cluster)
        client = EvmClient(chain["rpc_url"])
        try:
            client.rpc("evm_setAutomine", [False])
            try:
                head = client.block_number()
                low = max(0, head - DEEP_MAX + 1)
                proven = _logs(client, chain["main"], TOPIC_PROVEN, low, head)
                confirmed = {number: height for number, height, _hash in
                             _logs(client, chain["main"], TOPIC_CONFIRMED, low, head)}
                for block, height, _hash in sorted(proven, key=lambda item: -item[1]):
                    depth = head - height + 1
                    if deep:
                        # final for the nodes (emitted), and its confirmation final as well
                        ok = block > self.shallow["block"] and depth > CONFIRMATIONS + 1 \
                            and head - confirmed.get(block, head) >= CONFIRMATIONS
                    else:
                        ok = block >= 1 and depth <= CONFIRMATIONS - 1
                    if ok:
                        self._do(client, height, block, head, deep)
                        return
            finally:
                client.rpc("evm_setAutomine", [True])
                client.rpc("evm_mine", [])  # what waited in the pool meanwhile
        finally:
            client.close()

    def _do(self, client: EvmClient, fork: int, block: int, head: int, deep: bool) -> None:
        depth, orphaned, replayed = reorg_chain(client, fork)
        what = "deep" if deep else "shallow"
        record = {"block": block, "fork": fork, "depth": depth, "head": head,
                  "orphaned": orphaned, "replayed": replayed}
        if deep:
            self.deep, self.phase = record, "deep-done"
        else:
            self.shallow, self.phase = record, "deep"
        rule = (f"deeper than the finality rule ({CONFIRMATIONS})" if deep
                else f"shallower than the finality rule ({CONFIRMATIONS})")
        self.result.actions.append(
            f"{what} reorg of chain {REORG_CHAIN}: depth {depth} from L1 block {fork} (head "
            f"{head}), {rule}; it orphaned the BlockProven of rollup block {block}; "
            f"{replayed} orphaned transactions mined again on the new branch")

    def done(self, cluster: Cluster) -> bool:
        """``stop_when``: after the deep reorg every node rewound chain 2, a later block is
        executed everywhere and every proved block is executed on every chain."""
        if self.phase != "deep-done" or time.monotonic() - self.last_check < 1.0:
            return False
        self.last_check = time.monotonic()
        monitor = cluster.monitor
        assert monitor is not None
        if monitor.executed_everywhere() < self.deep["block"] + BLOCKS_AFTER_DEEP:
            return False
        metrics = node_reorg_metrics(cluster)
        if len(metrics) < len(cluster.nodes) or \
                not all(m["watcher_reorg"] > 0 for m in metrics.values()):
            return False
        facts = {int(c["rollup_chain_id"]): chain_facts(c) for c in cluster.state.chains}
        top = max(max(f["proven"], default=0) for f in facts.values())
        if any(set(range(1, top + 1)) - set(f["executed"]) for f in facts.values()):
            return False
        self.metrics_end, self.facts = metrics, facts
        return True


def _check(result: ScenarioResult, rz: Reorg) -> None:
    result.check("the shallow reorg happened (depth < the finality rule)",
                 bool(rz.shallow) and rz.shallow["depth"] < CONFIRMATIONS, str(rz.shallow)[:200])
    result.check("the deep reorg happened (depth > the finality rule)",
                 bool(rz.deep) and rz.deep["depth"] > CONFIRMATIONS, str(rz.deep)[:200])
    before = rz.metrics_before_deep
    result.check("after the shallow reorg no node had retracted or rewound anything",
                 bool(before) and all(m == {"watcher_retracted": 0.0, "watcher_reorg": 0.0}
                                      for m in before.values()), str(before))
    end = rz.metrics_end
    result.check("after the deep reorg every node rewound chain 2 and retracted its events",
                 bool(end) and all(m["watcher_reorg"] > 0 and m["watcher_retracted"] > 0
                                   for m in end.values()), str(end))
    if not rz.facts:
        result.check("the run reached the end state (every proved block executed)", False, "")
        return
    orphaned = set(rz.shallow.get("orphaned", [])) | set(rz.deep.get("orphaned", []))
    top = max(max(f["proven"], default=0) for f in rz.facts.values())
    wrong = []
    for chain, facts in sorted(rz.facts.items()):
        for number in range(1, top + 1):
            confirmed = facts["confirmed"].get(number, [])
            if len(confirmed) != 1:
                wrong.append(f"chain {chain} block {number}: confirmed {len(confirmed)}x")
            if number not in facts["executed"]:
                wrong.append(f"chain {chain} block {number}: not executed")
        on_orphan = [h for logs in facts.values() for items in logs.values()
                     for _height, h in items if h in orphaned]
        if on_orphan:
            wrong.append(f"chain {chain}: canonical logs in orphaned blocks {on_orphan}")
    result.check(f"every proved block (1..{top}) confirmed exactly once and executed on every "
                 "chain, nothing on an orphaned branch", not wrong, "; ".join(wrong)[:300])
    for what, record in (("shallow", rz.shallow), ("deep", rz.deep)):
        proven = rz.facts[REORG_CHAIN]["proven"].get(record.get("block", -1), [])
        result.check(f"the {what}ly orphaned BlockProven was mined again on the new branch",
                     len(proven) == 1 and proven[0][1] not in orphaned, str(proven))


def run_reorg(*, console: Console, run_dir: Path | None = None,
              circuit: tuple[int, int] | None = None, signing: str = "nodes") -> ScenarioResult:
    """Reorganise chain 2 shallower, then deeper than the nodes' finality rule."""
    result = ScenarioResult("reorg")
    rz = Reorg(result)
    options = scenario_options(run_dir=run_dir, circuit=circuit, signing=signing, blocks=None,
                               timeout=200.0, stop_when=rz.done, prune_history=False,
                               node_config_extra=rz.config_extra)
    _code, _summary, cluster = run_with_hooks(result, options, console, on_tick=rz.on_tick)
    if cluster is not None and cluster.signing_path != "nodes":
        result.check("runs with real oracle nodes", False, cluster.signing_path)
    _check(result, rz)
    result.save()
    return result
