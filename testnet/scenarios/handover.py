"""Scenario ``handover``: a group-key handover A -> B over real processes.

The old cluster (4 nodes, t = 3, group key A from a DKG among them, as ``up`` does) starts
on 2 chains. Meanwhile four NEW node folders (``successor/nodes/node-<i>/``, their own
``oracle-node init``) run a fresh DKG (``oracle-node dkg``, their own definition in
``successor/cluster/``) giving group key B, and start as a second cluster beside the first
(docs/operator.md: the successor starts before the handover lands; until then it refuses
every chain, ``group_key_mismatch``). The new DKG overlaps the old cluster's first blocks
only to save time (~40 s); the handover waits until the old cluster has confirmed 2 blocks
everywhere. While the old cluster keeps running and the sequencer keeps producing blocks,
the handover follows the operator path (docs/rotation-runbook.md, "Group-key handover"):

1. ``oracle-gov handover-message --new-key B`` on every chain (they must agree);
2. t old members each run ``oracle-node handover-sign`` (their own config, share and
   password; the message is rebuilt from the fields, never taken as given), and the
   coordinator runs ``oracle-gov handover-combine`` over the partial files (each checked
   against the old lock's public shares, the result under A);
3. ``oracle-gov handover --new-key B --signature SIG`` on chain 1, then chain 2, sent by an
   otherwise unused dev account (anyone may submit a handover).

The run ends once ≥ 2 blocks proved after the handover on every chain are executed
everywhere. Checks: every gate at epoch 2 with key B (one ``GroupKeyReplaced`` each), the
blocks proved after the handover confirmed with epoch 2 by successor nodes and executed,
every old node refused them (``signature_refused … group_key_mismatch`` per block and chain,
``oracle_drops_total{reason="group_key_mismatch"}`` > 0, no own signature), and no
``confirmFinalRoot`` transaction reverted on any chain (no ``InvalidSignature``).
Timings go to ``handover-timings.json`` in the run directory.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from testnet.anvil import DEV_PRIVATE_KEYS, free_port
from testnet.harness import nodes as node_setup
from testnet.harness.cluster import Cluster
from testnet.harness.dkg import DkgSigners, RunningDkg, dkg_command, write_definition
from testnet.harness.errors import HarnessError
from testnet.harness.procs import kill_unfinished
from testnet.harness.rundir import ProcessRecord, new_run_dir
from testnet.scenarios.base import (
    TOOL_TIMEOUT_S,
    ScenarioResult,
    run_tools,
    run_with_hooks,
    scenario_options,
)
from testnet.scenarios.base import gov_commands as base_gov_commands
from testnet.scenarios.handover_checks import ChainRecord, check_handover, read_chain

BLOCKS_BEFORE = 2
"""Blocks the old cluster confirms everywhere before the new DKG starts."""
BLOCKS_AFTER = 2
"""Blocks proved after the handover (on every chain) that must be executed before the end."""
OLD_EPOCH = 1
SUBMITTER_KEY = DEV_PRIVATE_KEYS[8]
"""An otherwise unused dev account sends the handovers: the signature authorises them."""
_DROPS = re.compile(r'^oracle_drops_total\{[^}]*reason="group_key_mismatch"[^}]*\}\s+(\S+)$',
                    re.MULTILINE)


def gov_commands(*commands: list[str]) -> list[str]:
    """Run ``oracle-gov ARGS`` for each argument list at once, sent by ``SUBMITTER_KEY``;
    their stdouts in order, HarnessError if one failed (the others are then stopped)."""
    return base_gov_commands(*commands, key=SUBMITTER_KEY)


def old_group_signature(cluster: Cluster, new_key: bytes, members: list[int]) -> bytes:
    """The old group's handover signature, made the operators' way.

    Each of ``members`` runs ``oracle-node handover-sign`` with its own config, share and
    password (at once); the coordinator runs ``oracle-gov handover-combine`` over the
    partial files, which checks each against the old lock and the result under key A."""
    from oracle_node.ceremony.dkg import LOCK_FILE

    assert cluster.dkg is not None
    signers = [n for n in cluster.nodes if n.index in members]
    partials = [n.config_path.parent / "handover-partial.json" for n in signers]
    run_tools("oracle-node", [node_setup.node_command(
        "handover-sign", "--config", str(n.config_path), "--old-epoch", str(OLD_EPOCH),
        "--new-key", "0x" + new_key.hex(), "--out", str(out),
        "--password-file", str(n.config_path.parent / "password"))
        for n, out in zip(signers, partials, strict=True)], gov_key=SUBMITTER_KEY)
    lock = cluster.identities[0].data_dir / LOCK_FILE
    [out] = gov_commands(["handover-combine", "--lock", str(lock), *map(str, partials)])
    return bytes.fromhex(out.strip().splitlines()[-1].removeprefix("0x"))


def _log_has(path: Path, needle: str) -> bool:
    return path.is_file() and needle in path.read_text(errors="replace")


class Handover:
    """The scenario's state machine, driven from the harness's hooks."""

    def __init__(self, result: ScenarioResult, run_dir: Path) -> None:
        self.result = result
        self.root = run_dir / "successor"
        self.t0 = time.time()
        self.marks: dict[str, float] = {}
        self.phase = "boot"
        self.error = ""
        self.pending: node_setup.PendingInit | None = None
        self.identities: list[node_setup.NodeIdentity] = []
        self.running: RunningDkg | None = None
        self.signers: DkgSigners | None = None
        self.successors: list[node_setup.NodeHandle] = []
        self.old: list[node_setup.NodeHandle] = []
        self.prepare: threading.Thread | None = None
        self.submit: threading.Thread | None = None
        self.messages: dict[int, bytes] = {}
        self.expected_message = b""
        self.signature = b""
        self.signed_by: list[int] = []
        self.landed: dict[int, float] = {}
        self.chains: dict[int, ChainRecord] = {}
        self.drops: dict[int, float] = {}
        self.last_check = 0.0

    def mark(self, name: str) -> None:
        """Remember when ``name`` happened (seconds since the scenario started)."""
        self.marks[name] = round(time.time() - self.t0, 2)

    # -- hooks ----------------------------------------------------------------------------
    def on_started(self, cluster: Cluster) -> None:
        """Check the signing path; start ``oracle-node init`` of the successor's folders."""
        self.mark("cluster_started")
        if cluster.signing_path != "nodes" or cluster.dkg is None:
            self.fail("the handover scenario needs real node processes and --keys dkg")
            return
        self.old = list(cluster.nodes)
        self.pending = node_setup.start_init(self.root / "nodes", cluster.options.nodes)

    def on_tick(self, cluster: Cluster) -> None:
        """Advance: the new DKG once its inits are done, the successors once it is done, the
        handover once they run, the signature is ready and 2 blocks are confirmed."""
        if self.phase in ("failed", "handed_over"):
            return
        try:
            self._step(cluster)
        except Exception as err:  # the scenario must end and report, whatever failed
            self.fail(f"{self.phase}: {type(err).__name__}: {err}")

    def fail(self, why: str) -> None:
        """Stop advancing; ``done`` ends the run and the checks report ``why``."""
        self.error = self.error or why
        self.phase = "failed"

    def _step(self, cluster: Cluster) -> None:
        monitor = cluster.monitor
        assert monitor is not None
        if self.phase == "boot" and self.pending is not None and all(
                p.poll() is not None for p in self.pending.processes):
            self._start_dkg(cluster)
            self.phase = "dkg"
        elif self.phase == "dkg" and self.running is not None and all(
                c.process.poll() is not None for c in self.running.children):
            self.signers = self.running.finish(wait_s=5.0)
            self.mark("dkg_done")
            self.result.actions.append(
                f"new DKG among 4 new node processes: group key B 0x"
                f"{self.signers.group_key.to_bytes().hex()[:16]}… in {self.signers.seconds:.1f} s")
            self._start_successors(cluster)
            self.prepare = self._thread(self._prepare, cluster)
            self.phase = "starting"
        elif self.phase == "starting":
            if "successors_started" not in self.marks and all(
                    _log_has(n.log_path, "node_started") for n in self.successors):
                self.mark("successors_started")
            if "old_confirmed" not in self.marks and monitor.confirmed_everywhere() >= \
                    BLOCKS_BEFORE:
                self.mark("old_confirmed")
            if self.error:
                raise HarnessError(self.error)
            ready = self.prepare is not None and not self.prepare.is_alive()
            if ready and {"successors_started", "old_confirmed"} <= set(self.marks):
                self.submit = self._thread(self._submit, cluster)
                self.phase = "handing_over"
        elif self.phase == "handing_over" and self.submit is not None \
                and not self.submit.is_alive():
            if self.error:
                raise HarnessError(self.error)
            self.phase = "handed_over"

    def _thread(self, target: Callable[[Cluster], None], cluster: Cluster) -> threading.Thread:
        thread = threading.Thread(target=self._guard, args=(target, cluster), daemon=True,
                                  name=f"handover-{target.__name__}")
        thread.start()
        return thread

    def _guard(self, target: Callable[[Cluster], None], cluster: Cluster) -> None:
        try:
            target(cluster)
        except Exception as err:  # reported by the checks
            self.error = self.error or f"{target.__name__}: {type(err).__name__}: {err}"

    def join(self) -> None:
        """Wait for the helper threads (each ends within the oracle-gov timeout)."""
        for thread in (self.prepare, self.submit):
            if thread is not None:
                thread.join(timeout=TOOL_TIMEOUT_S + 10)

    def _start_dkg(self, cluster: Cluster) -> None:
        assert self.pending is not None
        self.identities = self.pending.collect()
        cluster_dir = self.root / "cluster"
        started = time.monotonic()
        definition = write_definition(self.identities, out=cluster_dir,
                                      name=f"testnet-{cluster.network_id}-successor",
                                      network_id=cluster.network_id,
                                      threshold=cluster.options.threshold)
        children = [cluster.supervisor.start(
            f"successor-dkg-{ident.index}", dkg_command(definition, ident),
            log_path=ident.node_dir / "dkg.log",
            env=dict(os.environ, COLUMNS="200", NO_COLOR="1", PYTHONUNBUFFERED="1"))
            for ident in self.identities]
        self.running = RunningDkg(self.identities, cluster.supervisor, children, definition,
                                  cluster_dir, started)

    def _start_successors(self, cluster: Cluster) -> None:
        """Fund the new nodes and start ``oracle-node run`` with their own locks."""
        from oracle_node.ceremony.dkg import LOCK_FILE

        node_setup.fund_nodes(cluster, self.identities)
        ports = [(free_port(), free_port()) for _ in self.identities]
        offset = cluster.options.nodes
        for ident, (p2p, http) in zip(self.identities, ports, strict=True):
            boot = [f"/ip4/127.0.0.1/tcp/{p}/p2p/{other.peer_id}"
                    for other, (p, _h) in zip(self.identities, ports, strict=True)
                    if other.index != ident.index]
            config = ident.node_dir / "node.toml"
            config.write_text(node_setup.node_config_text(
                cluster, ident.index, ident.node_dir, ident.data_dir / LOCK_FILE, p2p, http,
                boot))
            name = f"successor-{ident.index}"
            child = cluster.supervisor.start(name, node_setup.node_command(
                "run", "--config", str(config)), log_path=ident.node_dir / "node.log")
            handle = node_setup.NodeHandle(
                offset + ident.index, child.process, f"http://127.0.0.1:{http}/status", config,
                child.log_path, ident.peer_id, ident.tx_address, {"p2p": p2p, "http": http})
            self.successors.append(handle)
            cluster.nodes.append(handle)
            cluster.state.processes.append(ProcessRecord(name, child.pid, str(child.log_path),
                                                         {"p2p": p2p, "http": http}))
        cluster.state.nodes = [n.describe() for n in cluster.nodes]
        cluster.state.save()
        self.result.actions.append(f"started the successor cluster (nodes {offset + 1}.."
                                   f"{offset + len(self.identities)}, key B) beside the old one")

    def _prepare(self, cluster: Cluster) -> None:
        """Thread: ``oracle-gov handover-message`` on every chain, the old group's signature."""
        from consensus.message import handover_message

        assert self.signers is not None
        new_key = self.signers.group_key.to_bytes()
        chains = cluster.state.chains
        outs = gov_commands(*(["handover-message", "--rpc", c["rpc_url"], "--gate", c["main"],
                               "--new-key", "0x" + new_key.hex()] for c in chains))
        for chain, out in zip(chains, outs, strict=True):
            self.messages[int(chain["rollup_chain_id"])] = bytes.fromhex(
                out.strip().splitlines()[-1].removeprefix("0x"))
        self.expected_message = handover_message(network_id=cluster.network_id,
                                                 old_epoch=OLD_EPOCH, new_key=new_key)
        if set(self.messages.values()) != {self.expected_message}:
            raise HarnessError("the chains' handover messages differ from "
                               "consensus.message.handover_message(network_id, 1, B)")
        self.signed_by = [i.index for i in cluster.identities][-cluster.options.threshold:]
        self.signature = old_group_signature(cluster, new_key, self.signed_by)
        self.mark("signature_ready")

    def _submit(self, cluster: Cluster) -> None:
        """Thread: ``oracle-gov handover`` on chain 1, then on chain 2 (as an operator would)."""
        assert self.signers is not None
        for chain in cluster.state.chains:
            (out,) = gov_commands(["handover", "--rpc", chain["rpc_url"], "--gate",
                                   chain["main"], "--new-key",
                                   "0x" + self.signers.group_key.to_bytes().hex(),
                                   "--signature", "0x" + self.signature.hex()])
            self.landed[int(chain["rollup_chain_id"])] = round(time.time() - self.t0, 2)
            self.result.actions.append(
                f"oracle-gov handover on chain {chain['rollup_chain_id']} signed by old "
                f"members {self.signed_by}: {' '.join(out.split())[-90:]}")

    def done(self, cluster: Cluster) -> bool:
        """``stop_when``: failed, or ≥ 2 blocks proved after the handover executed everywhere
        and every proved block executed (then the chains and metrics are read once)."""
        if self.phase == "failed":
            return True
        if self.phase != "handed_over" or time.monotonic() - self.last_check < 1.0:
            return False
        self.last_check = time.monotonic()
        monitor = cluster.monitor
        assert monitor is not None
        proven = max(v.highest["proven"] for v in monitor.views)
        if monitor.executed_everywhere() < proven:
            return False
        records = {int(c["rollup_chain_id"]): read_chain(c, scan_txs=False)
                   for c in cluster.state.chains}
        if any(max(r.proved, default=0) > proven or len(r.proved_after()) < BLOCKS_AFTER
               for r in records.values()):
            return False
        self.chains = {int(c["rollup_chain_id"]): read_chain(c, scan_txs=True)
                       for c in cluster.state.chains}
        self.drops = {n.index: _mismatch_drops(n) for n in self.old}
        self.mark("done")
        return True

    def timings(self, cluster: Cluster | None) -> dict[str, Any]:
        """Seconds since the scenario started: each step, the landings, first epoch-2
        confirmation per chain (when the harness's monitor first saw it)."""
        first: dict[int, float | None] = {}
        if cluster is not None and cluster.monitor is not None:
            for view in cluster.monitor.views:
                record = self.chains.get(view.chain_id)
                block = None if record is None else record.first_confirmed(epoch=OLD_EPOCH + 1)
                seen = None if block is None else view.seen_at.get(("confirmed", block))
                first[view.chain_id] = None if seen is None else round(seen - self.t0, 2)
        return {**self.marks, "handover_landed": self.landed,
                "first_epoch2_confirmation": first}


def _mismatch_drops(node: node_setup.NodeHandle) -> float:
    """``oracle_drops_total{reason="group_key_mismatch"}`` of a running node (-1: unreadable)."""
    if node.status_url is None:
        return -1.0
    try:
        text = httpx.get(node.status_url.replace("/status", "/metrics"), timeout=5.0).text
    except httpx.HTTPError:
        return -1.0
    return sum(float(m) for m in _DROPS.findall(text))


def run_handover(*, console: Console, run_dir: Path | None = None,
                 circuit: tuple[int, int] | None = None, signing: str = "nodes"
                 ) -> ScenarioResult:
    """Hand the group key over A -> B (old group's threshold signature) on every chain while
    blocks keep flowing; the successor cluster takes over at epoch 2."""
    result = ScenarioResult("handover")
    run_dir = (run_dir or new_run_dir()).resolve()
    hand = Handover(result, run_dir)
    # full history: a reverted confirmation is replayed at the block before it for its reason
    options = scenario_options(run_dir=run_dir, circuit=circuit, signing=signing, blocks=None,
                               timeout=300.0, stop_when=hand.done, keys="dkg",
                               prune_history=False)
    try:
        _code, _summary, cluster = run_with_hooks(result, options, console,
                                                  on_started=hand.on_started,
                                                  on_tick=hand.on_tick)
    finally:
        hand.join()
        if hand.pending is not None:
            kill_unfinished(hand.pending.processes)
    timings = hand.timings(cluster)
    check_handover(result, hand, cluster)
    result.actions.append(f"timings (s since start): {json.dumps(timings)}")
    if cluster is not None:
        (cluster.run_dir / "handover-timings.json").write_text(json.dumps(timings, indent=2))
        (cluster.run_dir / "scenario.json").write_text(json.dumps(result.to_json(), indent=2))
    return result
