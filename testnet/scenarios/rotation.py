"""Scenario ``rotation``: a signer-set rotation 4 (t=3) -> 5 (t=4) over real processes.

Members 1..4 hold the dealt key (TRUSTED DEALER, docs/testnet.md). Two more nodes (5, 6) are
initialised before the cluster starts and run without a share (joining by rotation). Once two
blocks are confirmed everywhere, governance proposes {1, 2, 3, 5, 6} with t = 4 through
``oracle-gov propose-signer-set`` on the governance chain (rollup chain 1) with an activation
block 60 governance blocks ahead; every node reshares over libp2p; once every node reports the
new set ready, the governance chain is mined up to the activation block (``anvil_mine``: the
chain's clock, not the protocol, is sped up). The sequencer never stops. Checks: every block
proved is confirmed and executed on every chain, the group key and epoch are unchanged on
every chain, member 4 signs nothing placed after the activation, aggregates of blocks placed
after the activation have 4 members (3 before).

Harness hooks used: ``UpOptions.node_config_extra`` adds ``network.governance_chain``/
``signer_sets``/``signer_sets_from_block``/``rotation_grace`` and lists the joiners in every
node's bootstrap; ``UpOptions.per_node_lock`` gives each node its own copy of the cluster
lock (the rotation rewrites the live lock file). Gate reads and governance transactions
(funding, ``propose-signer-set``, mining) live in ``testnet/scenarios/rotation_gov.py``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from testnet.anvil import free_port
from testnet.harness import nodes as node_setup
from testnet.harness.cluster import Cluster
from testnet.harness.errors import HarnessError
from testnet.harness.procs import kill_unfinished
from testnet.harness.rundir import new_run_dir
from testnet.scenarios.base import ScenarioResult, run_with_hooks, scenario_options
from testnet.scenarios.rotation_gov import (
    fund_everywhere,
    gate_keys,
    governance_height,
    governance_keys,
    member_keys,
    mine_governance_to,
    propose_signer_set,
    proven_blocks,
)

STAYERS = (1, 2, 3)
LEAVER = 4
JOINERS = (5, 6)
NEW_THRESHOLD = 4
ACTIVATION_AHEAD = 60
"""Governance blocks between the proposal and the activation (mined early once ready)."""
BLOCKS_AFTER = 2
"""Blocks placed after the activation that must be confirmed before the run ends."""
GRACE_S = 20.0


@dataclass
class Joiner:
    """A node that joins by rotation: no share, its own identity, ports chosen up front."""

    index: int
    node_dir: Path
    password: str
    p2p: int = field(default_factory=free_port)
    http: int = field(default_factory=free_port)
    init: subprocess.Popen[str] | None = None
    peer_id: str = ""
    address: str = ""

    def start_init(self) -> None:
        """Run ``oracle-node init`` (identity and transaction key, no BLS share)."""
        self.init = node_setup.start_node_init(self.node_dir, None, self.password)

    def finish_init(self) -> None:
        """Wait for ``init`` and read the peer id and transaction address it printed."""
        if self.peer_id:
            return
        assert self.init is not None
        out, _ = self.init.communicate(timeout=180)
        if self.init.returncode != 0:
            raise HarnessError(f"`oracle-node init` of joiner {self.index}: {out[-300:]}")
        self.peer_id, self.address = node_setup.parse_init_output(out, self.index)

    @property
    def bootstrap(self) -> str:
        """This joiner's multiaddr with its peer id."""
        return f"/ip4/127.0.0.1/tcp/{self.p2p}/p2p/{self.peer_id}"


class Rotation:
    """The scenario's state machine, driven from the harness's ``on_tick`` and ``stop_when``."""

    def __init__(self, result: ScenarioResult, run_dir: Path) -> None:
        self.result = result
        self.run_dir = run_dir
        self.joiners = [Joiner(i, run_dir / "nodes" / f"node-{i}", os.urandom(16).hex())
                        for i in JOINERS]
        self.keys_before: dict[int, tuple[str, int]] = {}
        self.keys_after: dict[int, tuple[str, int]] = {}
        self.proposal_block = 0
        self.activation = 0
        self.proved_at: dict[int, int] = {}
        self.phase = "boot"
        self.last_check = 0.0

    # -- configs --------------------------------------------------------------------------
    def config_extra(self, cluster: Cluster, index: int) -> dict[str, dict[str, object]]:
        """``UpOptions.node_config_extra``: rotation keys and the joiners as extra peers."""
        for joiner in self.joiners:
            joiner.finish_init()
        extra = [j.bootstrap for j in self.joiners if j.index != index]
        return {"network": governance_keys(cluster, GRACE_S), "p2p": {"bootstrap": extra}}

    # -- hooks ----------------------------------------------------------------------------
    def on_started(self, cluster: Cluster) -> None:
        """Record the gate keys, fund and start the joiners."""
        if cluster.signing_path != "nodes":
            raise HarnessError("the rotation scenario needs real node processes")
        self.keys_before = gate_keys(cluster)
        old = [n.describe() for n in cluster.nodes]
        fund_everywhere(cluster, [j.address for j in self.joiners])
        for j in self.joiners:
            boot = [f"/ip4/127.0.0.1/tcp/{n['ports']['p2p']}/p2p/{n['peer_id']}" for n in old]
            # the other joiners come from config_extra
            config = j.node_dir / "node.toml"
            config.write_text(node_setup.node_config_text(
                cluster, j.index, j.node_dir, node_setup.node_lock_path(cluster, j.node_dir),
                j.p2p, j.http, boot))
            child = cluster.supervisor.start(
                f"node-{j.index}", node_setup.node_command("run", "--config", str(config)),
                log_path=j.node_dir / "node.log")
            cluster.nodes.append(node_setup.NodeHandle(
                j.index, child.process, f"http://127.0.0.1:{j.http}/status", config,
                child.log_path, j.peer_id, j.address, {"p2p": j.p2p, "http": j.http}))
        cluster.state.nodes = [n.describe() for n in cluster.nodes]
        cluster.state.save()
        self.result.actions.append(f"started joiners {list(JOINERS)} (no share) beside the "
                                   f"dealt members 1..4 (t=3)")

    def on_tick(self, cluster: Cluster) -> None:
        """Propose once two blocks are confirmed and the joiners run; mine once all are ready."""
        monitor = cluster.monitor
        assert monitor is not None
        if self.phase == "boot" and monitor.confirmed_everywhere() >= 2 and all(
                _log_has(cluster, j.index, "node_started") for j in self.joiners):
            self.propose(cluster)
            self.phase = "resharing"
        elif self.phase == "resharing" and all(
                _log_has(cluster, n.index, "signer_set_ready") for n in cluster.nodes) and any(
                h >= self.proposal_block for h in proven_blocks(cluster).values()):
            # (a block proved during the reshare shows that blocks keep flowing meanwhile)
            self.result.actions.append("every node reported the new signer set ready (and a "
                                       "block was proved since the proposal)")
            mined = mine_governance_to(cluster, self.activation)
            if mined > 0:
                self.result.actions.append(f"mined {mined} governance blocks up to the "
                                           f"activation block {self.activation}")
            self.phase = "activating"
        elif self.phase == "activating" and all(
                _log_has(cluster, n.index, "signer_set_activated") for n in cluster.nodes):
            self.result.actions.append("every node activated the new signer set")
            self.phase = "activated"

    def propose(self, cluster: Cluster) -> None:
        """Send ``oracle-gov propose-signer-set`` for {1, 2, 3, 5, 6}, t = 4."""
        path = cluster.run_dir / "rotation-members.json"
        path.write_text(json.dumps(member_keys(cluster, (*STAYERS, *JOINERS)), indent=2))
        self.activation = governance_height(cluster) + ACTIVATION_AHEAD
        out = propose_signer_set(
            cluster, path, signer_sets=str(governance_keys(cluster, GRACE_S)["signer_sets"]),
            threshold=NEW_THRESHOLD, activation=self.activation)
        self.proposal_block = governance_height(cluster)
        self.result.actions.append(
            f"proposed members {[*STAYERS, *JOINERS]} t={NEW_THRESHOLD} at governance block "
            f"{self.proposal_block}, activation block {self.activation} "
            f"({out.strip()[:80]})")

    def done(self, cluster: Cluster) -> bool:
        """``stop_when``: activated, ≥ 2 blocks placed after it, every proved block done."""
        if self.phase != "activated" or time.monotonic() - self.last_check < 1.0:
            return False
        self.last_check = time.monotonic()
        monitor = cluster.monitor
        assert monitor is not None
        proven = max(v.highest["proven"] for v in monitor.views)
        if min(v.highest["executed"] for v in monitor.views) < proven:
            return False
        proved_at = proven_blocks(cluster)
        if max(proved_at, default=0) > proven:  # proved since the last poll: look again later
            return False
        self.proved_at = proved_at
        after = [b for b, h in self.proved_at.items() if h >= self.activation]
        if len(after) < BLOCKS_AFTER:
            return False
        self.keys_after = gate_keys(cluster)
        return True


def _log_has(cluster: Cluster, index: int, needle: str) -> bool:
    path = cluster.run_dir / "nodes" / f"node-{index}" / "node.log"
    return path.is_file() and needle in path.read_text(errors="replace")


def _db_rows(run_dir: Path, index: int, query: str) -> list[tuple[Any, ...]]:
    path = run_dir / "nodes" / f"node-{index}" / "data" / "node.db"
    if not path.is_file():
        return []
    conn = sqlite3.connect(path)
    try:
        return list(conn.execute(query))
    finally:
        conn.close()


def _check(result: ScenarioResult, rot: Rotation, cluster: Cluster | None) -> None:
    result.check("the rotation reached activation on every node", rot.phase == "activated",
                 f"phase {rot.phase}")
    result.check("group key and epoch unchanged on every chain",
                 bool(rot.keys_after) and rot.keys_after == rot.keys_before,
                 f"before {rot.keys_before} after {rot.keys_after}"[:300])
    if cluster is not None and cluster.signers is not None and rot.keys_before:
        dealt = "0x" + cluster.signers.group_key.to_bytes().hex()
        result.check("every gate holds the dealt group key at epoch 1",
                     all(v == (dealt, 1) for v in rot.keys_before.values()), dealt[:20])
    before = sorted(b for b, h in rot.proved_at.items() if h < rot.activation)
    after = sorted(b for b, h in rot.proved_at.items() if h >= rot.activation)
    during = [b for b, h in rot.proved_at.items() if rot.proposal_block <= h < rot.activation]
    result.check("blocks kept flowing during the reshare", bool(during) and bool(before),
                 f"proved between proposal and activation: {sorted(during)}")
    result.check(f"at least {BLOCKS_AFTER} blocks placed after the activation",
                 len(after) >= BLOCKS_AFTER, f"after: {after}")
    summary = result.summary or {}
    top = max(rot.proved_at, default=0)
    result.check("every block proved is confirmed and executed on every chain",
                 top > 0 and summary.get("executed_everywhere", 0) >= top
                 and summary.get("confirmed_everywhere", 0) >= top,
                 f"proved up to {top}, confirmed {summary.get('confirmed_everywhere')}, "
                 f"executed {summary.get('executed_everywhere')}")
    leaver = {int(r[0]) for r in _db_rows(Path(result.run_dir), LEAVER,
                                          "SELECT block FROM own_signatures")}
    late = sorted(leaver & set(after))
    result.check(f"member {LEAVER} (removed) signed nothing placed after the activation",
                 bool(after) and not late and bool(leaver & set(before)),
                 f"its signatures: {sorted(leaver)}; after activation: {late}")
    sizes: dict[int, set[int]] = {}
    for index in (*STAYERS, *JOINERS):
        for block, members in _db_rows(Path(result.run_dir), index,
                                       "SELECT block, members FROM aggregates"):
            sizes.setdefault(int(block), set()).add(len(str(members).split(",")))
    result.check(f"aggregates after the activation have {NEW_THRESHOLD} members",
                 bool(after) and all(sizes.get(b) == {NEW_THRESHOLD} for b in after),
                 f"{ {b: sorted(sizes.get(b, set())) for b in after} }")
    result.check("aggregates before the activation have 3 members",
                 bool(before) and all(sizes.get(b) == {3} for b in before),
                 f"{ {b: sorted(sizes.get(b, set())) for b in before} }"[:200])
    joined = {j: {int(r[0]) for r in _db_rows(Path(result.run_dir), j,
                                              "SELECT block FROM own_signatures")}
              for j in JOINERS}
    result.check("the joiners signed the blocks placed after the activation",
                 bool(after) and all(set(after) <= s for s in joined.values()),
                 f"{ {j: sorted(s) for j, s in joined.items()} }")
    _check_files(result, Path(result.run_dir), cluster)
    failed = [f"node-{n}" for n in (*STAYERS, LEAVER, *JOINERS)
              if cluster is not None and _log_has(cluster, n, "rotation_failed")]
    result.check("no node logged rotation_failed", not failed, ", ".join(failed))


def _check_files(result: ScenarioResult, run_dir: Path, cluster: Cluster | None) -> None:
    """The live lock of every new-set member is the new set with the old group key; the
    leaver's live share file is wiped, the others hold a share."""
    from consensus.errors import ConsensusError
    from consensus.lock import ClusterLock
    from oracle_node.keys import BLS_SHARE_FILE

    dealt = None if cluster is None or cluster.signers is None else \
        cluster.signers.group_key.to_bytes()
    wrong = []
    for index in (*STAYERS, *JOINERS):
        node_dir = run_dir / "nodes" / f"node-{index}"
        try:
            lock = ClusterLock.from_json((node_dir / "cluster-lock.json").read_text())
        except (OSError, ValueError, ConsensusError) as err:
            wrong.append(f"node-{index}: {type(err).__name__}")
            continue
        if (lock.threshold, len(lock.members), lock.group_public_key.to_bytes()) != (
                NEW_THRESHOLD, len(STAYERS) + len(JOINERS), dealt):
            wrong.append(f"node-{index}: t={lock.threshold} n={len(lock.members)}")
        if not (node_dir / "data" / "keys" / BLS_SHARE_FILE).is_file():
            wrong.append(f"node-{index}: no share file")
    result.check("every new member's live lock: 5 members, t=4, the same group key, a share",
                 dealt is not None and not wrong, "; ".join(wrong))
    leaver_share = run_dir / "nodes" / f"node-{LEAVER}" / "data" / "keys" / BLS_SHARE_FILE
    result.check(f"member {LEAVER}'s share file was wiped", not leaver_share.exists(),
                 str(leaver_share))


def run_rotation(*, console: Console, run_dir: Path | None = None,
                 circuit: tuple[int, int] | None = None, signing: str = "nodes"
                 ) -> ScenarioResult:
    """Rotate 4 members (t=3) to 5 (t=4), member 4 replaced, while blocks keep flowing."""
    result = ScenarioResult("rotation")
    run_dir = (run_dir or new_run_dir()).resolve()
    rot = Rotation(result, run_dir)
    for joiner in rot.joiners:
        joiner.start_init()
    options = scenario_options(run_dir=run_dir, circuit=circuit, signing=signing, blocks=None,
                               timeout=300.0, stop_when=rot.done,
                               node_config_extra=rot.config_extra, per_node_lock=True)
    try:
        _code, _summary, cluster = run_with_hooks(result, options, console,
                                                  on_started=rot.on_started,
                                                  on_tick=rot.on_tick)
    finally:
        kill_unfinished(joiner.init for joiner in rot.joiners)
    _check(result, rot, cluster)
    if cluster is not None:
        (cluster.run_dir / "scenario.json").write_text(json.dumps(result.to_json(), indent=2))
    return result

