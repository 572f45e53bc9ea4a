"""``oracle-testnet bench ceremony``: DKG and reshare over real libp2p processes on loopback.

Each member is one ``python -m oracle_node.ceremony.commands`` process (the same code as
``oracle-node dkg`` / ``oracle-node reshare``). Figures: wall time from spawning the first
process to the last exit (includes interpreter + py-libp2p start-up, ~2-5 s per process on
a loaded 2-core machine), the ceremony time inside the slowest member (first phase to
result), and messages/bytes the members sent (requests, retries included). The process
harness (``ProcessCluster``) is shared with the system tests.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testnet.anvil import free_port
from testnet.bench.report import BenchReport

PASSWORD = "bench-ceremony-password"
SCRYPT_N = 2**4
"""Test-grade keystore cost: the share keystore's scrypt is not what is measured here."""


@dataclass
class MemberProcess:
    """One running ceremony process."""

    index: int
    proc: subprocess.Popen[str]
    log: Path

    def result(self, timeout: float) -> dict[str, Any]:
        """Wait for the exit; the JSON summary line, or ``{"rc": code}`` on failure."""
        out, _ = self.proc.communicate(timeout=timeout)
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if self.proc.returncode != 0 or not lines:
            return {"rc": self.proc.returncode, "log": self.log.read_text()[-2000:]}
        doc: dict[str, Any] = json.loads(lines[-1])
        doc["rc"] = 0
        return doc

    def kill(self) -> None:
        """SIGKILL (no clean-up at all) and reap."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class ProcessCluster:
    """A local cluster of node folders and a definition, plus process spawning helpers."""

    def __init__(self, root: Path, n: int, threshold: int, *, name: str = "bench",
                 network_id: int = 1, phase_timeout: float = 20.0, linger: float = 3.0
                 ) -> None:
        """Create ``root/node<i>`` identities and ``root/cluster-definition.json``."""
        from oracle_node.ceremony.local import create_local_cluster

        self.root = root
        self.n = n
        self.phase_timeout = phase_timeout
        self.linger = linger
        self.definition = create_local_cluster(
            root, nodes=n, threshold=threshold, network_id=network_id, name=name,
            password=PASSWORD, ports=[free_port() for _ in range(n)])
        self.procs: list[MemberProcess] = []

    def node_dir(self, index: int) -> Path:
        """Folder of member ``index`` (1-based)."""
        return self.root / f"node{index}"

    def _spawn(self, index: int, args: list[str], tag: str) -> MemberProcess:
        log = self.root / f"{tag}-node{index}-{len(self.procs)}.log"
        env = dict(os.environ, ORACLE_NODE_PASSWORD=PASSWORD, PYTHONUNBUFFERED="1")
        with log.open("w") as handle:
            proc = subprocess.Popen(
                [sys.executable, "-m", "oracle_node.ceremony.commands", *args,
                 "--node-dir", str(self.node_dir(index)),
                 "--phase-timeout", str(self.phase_timeout), "--linger", str(self.linger),
                 "--scrypt-n", str(SCRYPT_N)],
                stdout=subprocess.PIPE, stderr=handle, text=True, env=env)
        member = MemberProcess(index, proc, log)
        self.procs.append(member)
        return member

    def spawn_dkg(self, index: int) -> MemberProcess:
        """Start member ``index``'s ``dkg`` process."""
        return self._spawn(index, ["dkg", "--definition", str(self.definition)], "dkg")

    def spawn_reshare(self, index: int, *, lock: Path, old_definition: Path,
                      new_definition: Path) -> MemberProcess:
        """Start a ``reshare`` process in member ``index``'s folder."""
        return self._spawn(index, ["reshare", "--lock", str(lock), "--old-definition",
                                   str(old_definition), "--definition", str(new_definition)],
                           "reshare")

    def close(self) -> None:
        """Kill whatever still runs."""
        for member in self.procs:
            member.kill()


def run_dkg(cluster: ProcessCluster, *, timeout: float = 240.0
            ) -> tuple[float, list[dict[str, Any]]]:
    """Every member's DKG at once; (wall seconds, per-member summaries)."""
    start = time.monotonic()
    members = [cluster.spawn_dkg(i) for i in range(1, cluster.n + 1)]
    results = [m.result(timeout) for m in members]
    return time.monotonic() - start, results


def run_reshare(cluster: ProcessCluster, *, timeout: float = 240.0
                ) -> tuple[float, list[dict[str, Any]]]:
    """Reshare the cluster's DKG key to the same members (new shares, same group key)."""
    lock = cluster.node_dir(1) / "cluster-lock.json"
    start = time.monotonic()
    members = [cluster.spawn_reshare(i, lock=lock, old_definition=cluster.definition,
                                     new_definition=cluster.definition)
               for i in range(1, cluster.n + 1)]
    results = [m.result(timeout) for m in members]
    return time.monotonic() - start, results


def _add_rows(report: BenchReport, what: str, n: int, t: int, wall: float,
              results: list[dict[str, Any]], target: str | None) -> None:
    ok = [r for r in results if r.get("rc") == 0]
    if len(ok) != len(results) or len({r["lock_hash"] for r in ok}) != 1:
        report.note(f"{what} n={n}: {len(results) - len(ok)} members failed or locks differ")
        return
    report.add(f"{what} wall (spawn to last exit)", wall, "s", n=n, t=t)
    span = max(r["finished_unix"] for r in ok) - max(r["first_progress_unix"] for r in ok)
    report.add(f"{what} ceremony (last member up -> all done)", span, "s", n=n, t=t,
               target=target)
    report.add(f"{what} ceremony (slowest member, first phase -> result)",
               max(r["ceremony_seconds"] for r in ok), "s", n=n, t=t)
    report.add(f"{what} messages sent (all members)", sum(r["messages_sent"] for r in ok),
               "msgs", n=n, t=t)
    report.add(f"{what} bytes sent (all members)", sum(r["bytes_sent"] for r in ok), "B",
               n=n, t=t)
    report.add(f"{what} retries (all members)", sum(r["retries"] for r in ok), "requests",
               n=n, t=t)


def run(report: BenchReport, *, quick: bool) -> None:
    """DKG then reshare for n = 4, 7 (and 16 unless ``quick``)."""
    sizes = [4, 7] if quick else [4, 7, 16]
    for n in sizes:
        t = -(-2 * n // 3)
        root = Path(tempfile.mkdtemp(prefix=f"bench-ceremony-{n}-"))
        cluster = ProcessCluster(root, n, t, phase_timeout=120.0)
        try:
            wall, results = run_dkg(cluster)
            _add_rows(report, "DKG", n, t, wall, results, None)
            if all(r.get("rc") == 0 for r in results):
                wall, results = run_reshare(cluster)
                _add_rows(report, "reshare", n, t, wall, results,
                          "<= 30 s at n=16" if n == 16 else None)
        finally:
            cluster.close()
            shutil.rmtree(root, ignore_errors=True)
    for n in sizes:
        dkg_s, reshare_s, msgs, size = in_process(n)
        t = -(-2 * n // 3)
        report.add("DKG in one process over FakeNetwork", dkg_s, "s", n=n, t=t)
        report.add("reshare in one process over FakeNetwork", reshare_s, "s", n=n, t=t,
                   extra={"messages": msgs, "bytes": size})
    report.note("loopback, one OS process per member, 2 shared cores; wall includes process "
                "start-up (interpreter + py-libp2p imports)")


def in_process(n: int) -> tuple[float, float, int, int]:
    """DKG then reshare of n members in ONE process over FakeNetwork (wall clock).

    Separates the protocol's own cost (crypto, runner, persistence) from process start-up
    and py-libp2p: (dkg seconds, reshare seconds, messages, bytes) summed over members.
    """
    import trio

    from consensus.lock import LockMember
    from oracle_node.ceremony.definition import ClusterDefinition, member_entry
    from oracle_node.ceremony.dkg import run_dkg_member
    from oracle_node.ceremony.reshare import ReshareSpec, reshare_ceremony_id, run_reshare_member
    from oracle_node.ceremony.runner import PhaseTimeouts
    from oracle_node.p2p.fake import open_fake_network
    from oracle_node.p2p.identity import generate_identity

    ids = [generate_identity() for _ in range(n)]
    t = -(-2 * n // 3)
    definition = ClusterDefinition("inproc", 1, t, tuple(
        member_entry(k, i, "/ip4/127.0.0.1/tcp/0") for i, k in enumerate(ids, 1)))
    timeouts = PhaseTimeouts(60.0, 60.0, 60.0, 5.0)
    root = Path(tempfile.mkdtemp(prefix="bench-ceremony-inproc-"))
    figures: list[float] = []

    async def main() -> None:
        peers = [m.peer_id for m in definition.members]
        async with open_fake_network() as net:
            trs = [net.add_node(p, allowed=[q for q in peers if q != p]) for p in peers]
            outs: dict[int, Any] = {}
            start = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for i in range(n):
                    async def one(i: int = i) -> None:
                        outs[i] = await run_dkg_member(
                            definition=definition, identity=ids[i], node_dir=root / f"n{i}",
                            transport=trs[i], password=PASSWORD, timeouts=timeouts,
                            scrypt_n=SCRYPT_N)
                    nursery.start_soon(one)
            figures.append(time.perf_counter() - start)
            lock = outs[0].lock
            from oracle_node.keys import load_share
            spec = ReshareSpec(reshare_ceremony_id(b"bench", lock.canonical_hash()), 1, lock,
                               tuple(LockMember(m.index, m.peer_id, m.encryption_key)
                                     for m in definition.members), t)
            results: dict[int, Any] = {}
            start = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for i in range(n):
                    async def two(i: int = i) -> None:
                        share = load_share(lock, outs[i].share_path, PASSWORD)
                        results[i] = await run_reshare_member(
                            spec=spec, identity=ids[i], transport=trs[i],
                            state_dir=root / f"n{i}", old_share=share, timeouts=timeouts)
                    nursery.start_soon(two)
            figures.append(time.perf_counter() - start)
            figures.append(sum(r.stats.messages_sent for r in results.values()))
            figures.append(sum(r.stats.bytes_sent for r in results.values()))

    try:
        trio.run(main)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return figures[0], figures[1], int(figures[2]), int(figures[3])
