"""``oracle-testnet up``: chains, contracts, signer set, nodes, sequencer, live progress.

Every process it starts is supervised (:mod:`testnet.harness.procs`); any failure or
Ctrl-C stops them all unless ``--keep`` detached them after a successful start.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from consensus.bls import PublicKey
from consensus.threshold import KeyShare, PublicKeyShare
from testnet.anvil import DEV_PRIVATE_KEYS, start_anvil
from testnet.harness import nodes as node_setup
from testnet.harness.deployment import (
    Deployed,
    deploy_all,
    fund_users,
    precompile,
    setup_cache_dir,
)
from testnet.harness.dkg import DKG_NOTE, DkgSigners, start_dkg
from testnet.harness.errors import HarnessError
from testnet.harness.fallback_signer import FALLBACK_LABEL, FallbackSigner
from testnet.harness.monitor import ChainMonitor
from testnet.harness.options import UpOptions
from testnet.harness.procs import Supervisor
from testnet.harness.rundir import ClusterState, ProcessRecord, new_run_dir
from testnet.harness.signers import TRUSTED_DEALER_NOTE, DealtSigners, deal
from testnet.harness.summary import build_summary
from testnet.sequencer.config import ChainSpec, SequencerConfig
from testnet.sequencer.eventlog import EventLog

DEPLOYER_KEY = DEV_PRIVATE_KEYS[0]
VALIDATOR_KEY = DEV_PRIVATE_KEYS[1]
USER_KEYS = DEV_PRIVATE_KEYS[2:5]
FALLBACK_SUBMITTER_KEY = DEV_PRIVATE_KEYS[5]


@dataclass
class Cluster:
    """One local cluster; build it with :meth:`start`, observe it with :attr:`monitor`."""

    options: UpOptions
    console: Console = field(default_factory=Console)
    supervisor: Supervisor = field(default_factory=Supervisor)
    run_dir: Path = field(init=False)
    state: ClusterState = field(init=False)
    deployed: Deployed | None = None
    monitor: ChainMonitor | None = None
    fallback: FallbackSigner | None = None
    fallback_thread: threading.Thread | None = None
    signing_path: str = ""
    notes: list[str] = field(default_factory=list)
    nodes: list[node_setup.NodeHandle] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    events: EventLog = field(init=False)
    signers: DealtSigners | None = None
    """The TRUSTED DEALER's signer set (``--keys dealer`` only)."""
    dkg: DkgSigners | None = None
    """The DKG's agreed lock (``--keys dkg`` only)."""
    identities: list[node_setup.NodeIdentity] = field(default_factory=list)
    node_status: dict[int, dict[str, Any]] = field(default_factory=dict)
    network_id: int = field(default_factory=lambda: 0x7E57 + secrets.randbelow(1 << 20))
    t0: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.options.validate()
        if self.options.run_dir is not None:
            self.options.run_dir.mkdir(parents=True, exist_ok=True)
            self.run_dir = self.options.run_dir.resolve()
        else:
            self.run_dir = new_run_dir()
        self.state = ClusterState(run_dir=str(self.run_dir), created_unix=time.time(),
                                  threshold=self.options.threshold,
                                  circuit=self.options.circuit, network_id=self.network_id)
        self.events = EventLog(self.run_dir / "harness-events.jsonl")

    def note(self, text: str, style: str = "yellow") -> None:
        """Print and remember a note (shown in the live view and the summary)."""
        self.notes.append(text)
        self.console.print(f"[{style}]{text}")

    def _record(self, name: str, pid: int, log: Path, **ports: int) -> None:
        self.state.processes.append(ProcessRecord(name, pid, str(log), dict(ports)))
        self.state.save()

    def start(self) -> None:
        """Start everything; raise HarnessError (after stopping what started) on failure."""
        t0 = time.monotonic()
        opts = self.options
        self.console.print(f"run directory: {self.run_dir}")
        pending = self._start_init()  # the node inits run while anvil and the probe start
        chains = []
        for c in range(1, opts.chains + 1):
            chain_dir = self.run_dir / "chains" / f"chain-{c}"
            chain = start_anvil(chain_id=31337 + c, state_dir=chain_dir,
                                prune_history=opts.prune_history)
            self.supervisor.adopt(f"anvil-{c}", chain.process, chain.log_path)
            self._record(f"anvil-{c}", chain.process.pid, chain.log_path, rpc=chain.port)
            chains.append((c, chain))
        self.timings["chains_s"] = time.monotonic() - t0
        self.signing_path = self._choose_signing_path()
        self.state.signing_path = self.signing_path
        group_key = self._make_keys(pending, n_chains=len(chains))
        self.timings["keys_s"] = time.monotonic() - t0
        self.deployed = deploy_all(
            run_dir=self.run_dir, chains=[(c, ch.rpc_url) for c, ch in chains],
            network_id=self.network_id, circuit=opts.circuit,
            group_key=group_key,
            deployer_key=DEPLOYER_KEY, validator_key=VALIDATOR_KEY, console=self.console)
        fund_users(self.deployed, [(c, ch.rpc_url) for c, ch in chains],
                   minter_key=DEPLOYER_KEY, user_keys=list(USER_KEYS))
        self.timings["deploy_s"] = time.monotonic() - t0
        self.state.chains = [{"rollup_chain_id": c, "evm_chain_id": 31337 + c,
                              "rpc_url": ch.rpc_url,
                              "main": self.deployed.mains[c], "token": self.deployed.tokens[c]}
                             for c, ch in chains]
        self.state.save()
        if not self.deployed.has_gate:
            self.note("the main contract has no oracle gate (no confirmFinalRoot) in this "
                      "checkout: blocks are committed and proved, but nothing can be confirmed "
                      "or executed", "red")
        self.monitor = ChainMonitor([(c, ch.rpc_url, self.deployed.mains[c]) for c, ch in chains])
        # The sequencer loads its proving key (~20 s for d16/k4) while the nodes start.
        self._start_sequencer()
        if self.signing_path == "nodes":
            self.nodes = node_setup.start_nodes(self, self.identities)
        else:
            self._start_fallback()
        self.state.nodes = [n.describe() for n in self.nodes]
        self.state.save()
        self.timings["started_s"] = time.monotonic() - t0

    def _start_init(self) -> node_setup.PendingInit:
        """Start ``oracle-node init`` of every node (dealer: deal first, import the shares)."""
        opts = self.options
        self.state.keys_path = opts.keys
        dealt = None
        if opts.keys == "dealer":
            self.signers = deal(opts.threshold, opts.nodes)
            self.note(TRUSTED_DEALER_NOTE)
            dealt = [s.secret.to_bytes() for s in self.signers.shares]
        return node_setup.start_init(self.run_dir / "nodes", opts.nodes, dealt)

    def _make_keys(self, pending: node_setup.PendingInit, *, n_chains: int) -> PublicKey:
        """Finish the node folders and the signer set; return the group key.

        ``--keys dkg``: the nodes run the DKG among themselves (:mod:`testnet.harness.dkg`)
        while the harness compiles the contracts; ``--keys dealer``: the lock of the dealt
        signer set (TRUSTED DEALER, labelled)."""
        opts = self.options
        name = f"testnet-{self.network_id}"
        self.identities = pending.collect()
        if self.signers is not None:
            lock = self.signers.lock([i.peer_id for i in self.identities], name=name)
            lock_path = self.run_dir / "cluster" / "cluster-lock.json"
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            lock_path.write_text(lock.to_json())
            self.state.save()
            return self.signers.group_key
        problem = node_setup.node_unavailable_reason()
        if problem is not None:
            raise HarnessError(f"--keys dkg needs `oracle-node dkg`, but the node cannot run: "
                               f"{problem} (use --keys dealer)")
        self.console.print(f"DKG among {opts.nodes} node processes (t = {opts.threshold}) ...")
        running = start_dkg(self.identities, supervisor=self.supervisor,
                            cluster_dir=self.run_dir / "cluster", name=name,
                            network_id=self.network_id, threshold=opts.threshold)
        self.timings["precompile_s"] = precompile(opts.circuit, n_chains)
        self.dkg = running.finish()
        self.timings["dkg_s"] = self.dkg.seconds
        self.state.dkg = self.dkg.describe()
        self.state.save()
        self.note(f"{DKG_NOTE} Lock 0x{self.dkg.lock_hash.hex()[:16]}… agreed by all "
                  f"{opts.nodes} members in {self.dkg.seconds:.1f} s.", "green")
        return self.dkg.group_key

    def _choose_signing_path(self) -> str:
        wanted = self.options.signing
        if wanted == "harness":
            self.note(f"signing path: {FALLBACK_LABEL} (requested with --signing harness)", "red")
            return "harness-fallback"
        problem = node_setup.circuit_mismatch_reason(self.options.circuit) or \
            node_setup.node_unavailable_reason()
        if problem is None:
            self.note("signing path: oracle nodes (separate `oracle-node run` processes)",
                      "green")
            return "nodes"
        if wanted == "nodes":
            raise HarnessError(f"--signing nodes, but the node cannot run: {problem}")
        self.note(f"signing path: {FALLBACK_LABEL} because the node cannot run: {problem}",
                  "red")
        return "harness-fallback"

    def _fallback_shares(self) -> tuple[list[KeyShare], list[PublicKeyShare]]:
        if self.signers is not None:
            return list(self.signers.shares), list(self.signers.public_shares)
        assert self.dkg is not None
        from oracle_node.ceremony.dkg import SHARE_FILE
        from oracle_node.keys import load_share

        self.note("the HARNESS FALLBACK signer read every member's DKG share from the node "
                  "keystores (it knows their passwords), so the harness knows the group "
                  "secret as a TRUSTED DEALER would: testnet only", "red")
        shares = [load_share(self.dkg.lock, i.data_dir / SHARE_FILE, i.password)
                  for i in self.identities]
        return shares, list(self.dkg.lock.public_shares)

    def _start_fallback(self) -> None:
        assert self.deployed is not None
        from oracle_node.rollup.state import RollupParams

        shares, public_shares = self._fallback_shares()

        depth, capacity = self.options.circuit
        self.fallback = FallbackSigner(
            chains=[(c["rollup_chain_id"], c["rpc_url"], c["main"]) for c in self.state.chains],
            network_id=self.network_id, epoch=1, threshold_t=self.options.threshold,
            shares=shares, public_shares=public_shares,
            submitter_key=FALLBACK_SUBMITTER_KEY,
            params=RollupParams(depth=depth, capacity=capacity), log=self.events)
        self.fallback_thread = threading.Thread(target=self.fallback.run, daemon=True,
                                                name="fallback-signer")
        self.fallback_thread.start()

    def sequencer_config(self, **overrides: Any) -> SequencerConfig:
        """The sequencer's config for this cluster (``overrides`` for scenarios)."""
        depth, capacity = self.options.circuit
        base: dict[str, Any] = dict(
            chains=tuple(ChainSpec(c["rollup_chain_id"], c["rpc_url"], c["main"], c["token"])
                         for c in self.state.chains),
            validator_key=VALIDATOR_KEY, user_keys=tuple(USER_KEYS), depth=depth,
            capacity=capacity, max_blocks=self.options.blocks,
            block_interval=self.options.block_interval, mode=self.options.mode,
            dishonest_block=self.options.dishonest_block,
            recover_after=self.options.recover_after,
            events_path=str(self.run_dir / "sequencer" / "events.jsonl"),
            setup_cache=str(setup_cache_dir()))
        base.update(overrides)
        return SequencerConfig(**base)

    def _start_sequencer(self, **overrides: Any) -> None:
        seq_dir = self.run_dir / "sequencer"
        seq_dir.mkdir(parents=True, exist_ok=True)
        config = self.sequencer_config(**overrides)
        config.save(seq_dir / "sequencer.json")
        child = self.supervisor.start(
            "sequencer", [sys.executable, "-m", "testnet.sequencer", "--config",
                          str(seq_dir / "sequencer.json")],
            log_path=seq_dir / "sequencer.log", env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self._record("sequencer", child.pid, child.log_path)

    def sequencer_alive(self) -> bool:
        """True while the sequencer process runs."""
        return self.supervisor.get("sequencer").alive()

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able view of the cluster for the status page."""
        monitor = self.monitor
        chains = [] if monitor is None else [
            {"chain_id": v.chain_id, "url": v.url, **dict(v.highest), "error": v.error}
            for v in list(monitor.views)]
        top = 0 if monitor is None else max(
            (v.highest["committed"] for v in monitor.views), default=0)
        blocks = [] if monitor is None else [
            {"block_number": r.block_number, "latency_s": r.latency_s,
             "confirmed_on": r.confirmed_on, "executed_on": r.executed_on,
             "final_roots_agree": r.final_roots_agree}
            for r in (monitor.record(n) for n in range(max(1, top - 49), top + 1))]
        nodes = [{"index": n.index, "alive": n.alive(),
                  "status": self.node_status.get(n.index, {})} for n in self.nodes]
        dealer = self.options.keys == "dealer"
        return {"signing_path": self.signing_path, "keys_path": self.options.keys,
                "keys_note": self.keys_note(),
                "trusted_dealer_note": TRUSTED_DEALER_NOTE if dealer else "",
                "chains": chains, "blocks": blocks, "nodes": nodes, "notes": self.notes[-5:],
                "run_dir": str(self.run_dir)}

    def keys_note(self) -> str:
        """Where the shares came from, as the console and the status page say it."""
        return TRUSTED_DEALER_NOTE if self.options.keys == "dealer" else DKG_NOTE

    def stop(self) -> None:
        """Stop the fallback signer and every process (unless detached)."""
        if self.fallback is not None:
            self.fallback.stop.set()
        if self.fallback_thread is not None:
            self.fallback_thread.join(timeout=5)
        if self.monitor is not None:
            self.monitor.close()
        self.supervisor.stop_all()

    def write_summary(self, path: Path | None, *, started: float, ok: bool,
                      failures: list[str]) -> dict[str, Any]:
        """Write ``summary.json`` in the run dir (and to ``path``); return it."""
        assert self.monitor is not None
        doc = build_summary(self, started=started, ok=ok, failures=failures)
        text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
        (self.run_dir / "summary.json").write_text(text)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return doc
