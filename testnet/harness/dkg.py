"""The signer set of a local cluster from a real DKG among the nodes (``up --keys dkg``).

Every node's libp2p identity comes from ``oracle-node init`` (``data/keys/p2p-identity.json``,
:func:`testnet.harness.nodes.init_node_keys`); the DKG member key is derived from that
identity, so the node later runs with the very identity the ceremony used. The harness writes
``cluster/cluster-definition.json`` (every member's peer id, a free loopback port and its
ceremony encryption key, ``oracle_node.ceremony.definition.member_entry``), then starts one
``oracle-node dkg`` process per member (``python -m oracle_node.ceremony.commands dkg``, real
py-libp2p). Each writes ``data/cluster-lock.json`` and ``data/keys/bls-share.json`` (EIP-2335);
the harness never sees a share. All members' locks must have the same canonical hash (else
:class:`DkgMismatch`); the agreed lock is copied to ``cluster/cluster-lock.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consensus.bls import PublicKey
from consensus.lock import ClusterLock
from oracle_node.keys import NODE_KEY_SCRYPT_N
from testnet.anvil import free_port
from testnet.harness.errors import HarnessError

if TYPE_CHECKING:
    from testnet.harness.nodes import NodeIdentity
    from testnet.harness.procs import Child, Supervisor

DKG_NOTE = ("keys: DKG among the node identities (one `oracle-node dkg` process per member "
            "over real libp2p); each node holds only its own share, the harness none.")
DEFINITION_FILE = "cluster-definition.json"
DKG_PHASE_TIMEOUT_S = 60.0
"""Per-phase deadline of the members (a phase ends early once complete; an honest local
ceremony never waits for it)."""
DKG_LINGER_S = 3.0
DKG_WAIT_S = 240.0
"""The harness gives up on the ceremony after this long (interpreter + py-libp2p start-up of
n processes on a busy 2-core machine is most of it)."""


class DkgFailed(HarnessError):
    """A member's ``oracle-node dkg`` failed or did not finish in time."""


class DkgMismatch(HarnessError):
    """The members' cluster locks differ (different canonical hashes)."""


@dataclass(frozen=True)
class DkgSigners:
    """The outcome of the DKG among the nodes: the agreed lock and what it cost."""

    lock: ClusterLock
    lock_hash: bytes
    definition_path: Path
    lock_path: Path
    seconds: float
    member_stats: tuple[dict[str, Any], ...] = field(default=())

    @property
    def group_key(self) -> PublicKey:
        """The group public key every member's lock names."""
        return self.lock.group_public_key

    def describe(self) -> dict[str, Any]:
        """What ``state.json`` and the summary record about the ceremony."""
        return {"lock_hash": "0x" + self.lock_hash.hex(),
                "group_key": "0x" + self.group_key.to_bytes().hex(),
                "definition": str(self.definition_path), "lock": str(self.lock_path),
                "seconds": round(self.seconds, 3),
                "members": [{k: s.get(k) for k in ("seconds", "ceremony_seconds",
                                                    "messages_sent", "retries")}
                            for s in self.member_stats]}


def write_definition(identities: list[NodeIdentity], *, out: Path, name: str, network_id: int,
                     threshold: int) -> Path:
    """Write the cluster definition of ``identities`` (member i = node i, free loopback port)."""
    from oracle_node.ceremony.definition import ClusterDefinition, member_entry
    from oracle_node.keys import IDENTITY_FILE, read_keystore
    from oracle_node.p2p.identity import identity_from_bytes, peer_id_of

    members = []
    for ident in identities:
        key = identity_from_bytes(read_keystore(ident.data_dir / "keys" / IDENTITY_FILE,
                                                ident.password))
        if peer_id_of(key) != ident.peer_id:
            raise HarnessError(f"node {ident.index}: its identity keystore names "
                               f"{peer_id_of(key)}, `oracle-node init` printed {ident.peer_id}")
        members.append(member_entry(key, ident.index, f"/ip4/127.0.0.1/tcp/{free_port()}"))
    definition = ClusterDefinition(name, network_id, threshold, tuple(members), ())
    out.mkdir(parents=True, exist_ok=True)
    path = out / DEFINITION_FILE
    path.write_text(definition.to_json())
    return path


def dkg_command(definition: Path, ident: NodeIdentity) -> list[str]:
    """argv of one member's ``oracle-node dkg`` (this interpreter, no PATH lookup)."""
    return [sys.executable, "-m", "oracle_node.ceremony.commands", "dkg",
            "--definition", str(definition), "--node-dir", str(ident.data_dir),
            "--password-file", str(ident.node_dir / "password"),
            "--phase-timeout", str(DKG_PHASE_TIMEOUT_S), "--linger", str(DKG_LINGER_S),
            "--scrypt-n", str(NODE_KEY_SCRYPT_N)]


def last_json_line(text: str) -> dict[str, Any] | None:
    """The last line of ``text`` that parses as a JSON object (the ``dkg`` summary line)."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict):
                return doc
    return None


def agreed_lock(locks: list[tuple[int, ClusterLock]]) -> ClusterLock:
    """The one lock every member wrote; :class:`DkgMismatch` (naming the hashes) otherwise."""
    if not locks:
        raise DkgMismatch("no member wrote a cluster lock")
    hashes = {index: lock.canonical_hash() for index, lock in locks}
    if len(set(hashes.values())) != 1:
        detail = ", ".join(f"node {i}: 0x{h.hex()[:16]}" for i, h in sorted(hashes.items()))
        raise DkgMismatch(f"the members' cluster locks differ: {detail}")
    return locks[0][1]


@dataclass
class RunningDkg:
    """The members' ``oracle-node dkg`` processes (:func:`start_dkg`); :meth:`finish` it."""

    identities: list[NodeIdentity]
    supervisor: Supervisor
    children: list[Child]
    definition: Path
    cluster_dir: Path
    started: float

    def finish(self, wait_s: float = DKG_WAIT_S) -> DkgSigners:
        """Wait for every member; check that their locks agree; return the agreed lock.

        Raises :class:`DkgFailed` (a member failed or timed out; the others are stopped) or
        :class:`DkgMismatch` (the locks' canonical hashes differ, or a member is misnamed)."""
        from oracle_node.ceremony.dkg import LOCK_FILE

        deadline = self.started + wait_s
        failures = []
        for ident, child in zip(self.identities, self.children, strict=True):
            try:
                code = child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                failures.append(f"node {ident.index}: no result after {wait_s:.0f} s")
                continue
            if code != 0:
                tail = child.log_path.read_text(errors="replace")[-400:]
                failures.append(f"node {ident.index}: `oracle-node dkg` exited {code}: {tail}")
        if failures:
            for child in self.children:
                self.supervisor.stop(child.name)
            raise DkgFailed("the DKG among the nodes failed: " + "; ".join(failures)
                            + " (logs: nodes/node-<i>/dkg.log)")
        locks = [(i.index, ClusterLock.from_json((i.data_dir / LOCK_FILE).read_text()))
                 for i in self.identities]
        lock = agreed_lock(locks)
        for ident in self.identities:
            member = lock.members[ident.index - 1]
            if member.name != ident.peer_id:
                raise DkgMismatch(f"the lock names member {ident.index} {member.name!r}, "
                                  f"but node {ident.index} is {ident.peer_id}")
        lock_path = self.cluster_dir / "cluster-lock.json"
        lock_path.write_text(lock.to_json())
        stats = tuple(last_json_line(c.log_path.read_text(errors="replace")) or {}
                      for c in self.children)
        return DkgSigners(lock, lock.canonical_hash(), self.definition, lock_path,
                          time.monotonic() - self.started, stats)


def start_dkg(identities: list[NodeIdentity], *, supervisor: Supervisor, cluster_dir: Path,
              name: str, network_id: int, threshold: int) -> RunningDkg:
    """Write the definition and start one ``oracle-node dkg`` process per member."""
    started = time.monotonic()
    definition = write_definition(identities, out=cluster_dir, name=name,
                                  network_id=network_id, threshold=threshold)
    children = [supervisor.start(f"dkg-{ident.index}", dkg_command(definition, ident),
                                 log_path=ident.node_dir / "dkg.log",
                                 env=dict(os.environ, COLUMNS="200", NO_COLOR="1",
                                          PYTHONUNBUFFERED="1"))
                for ident in identities]
    return RunningDkg(identities, supervisor, children, definition, cluster_dir, started)


def run_dkg(identities: list[NodeIdentity], *, supervisor: Supervisor, cluster_dir: Path,
            name: str, network_id: int, threshold: int,
            wait_s: float = DKG_WAIT_S) -> DkgSigners:
    """Run the DKG among ``identities`` as separate processes; return the agreed lock."""
    return start_dkg(identities, supervisor=supervisor, cluster_dir=cluster_dir, name=name,
                     network_id=network_id, threshold=threshold).finish(wait_s)
