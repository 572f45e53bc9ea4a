"""DKG over real py-libp2p processes on loopback (``oracle-node dkg`` code path).

4 members; 5 members t=3 with one never started; a member SIGKILLed mid-DKG and restarted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from consensus.lock import ClusterLock
from oracle_node.ceremony.definition import ClusterDefinition
from oracle_node.ceremony.dkg import state_path
from oracle_node.keys import load_share
from testnet.bench.ceremony import PASSWORD, ProcessCluster, run_dkg

pytestmark = pytest.mark.system


@pytest.fixture
def clusters() -> Iterator[list[ProcessCluster]]:
    made: list[ProcessCluster] = []
    yield made
    for cluster in made:
        cluster.close()


def _check_outputs(cluster: ProcessCluster, indices: list[int]) -> ClusterLock:
    locks = [ClusterLock.from_json((cluster.node_dir(i) / "cluster-lock.json").read_text())
             for i in indices]
    assert len({lock.canonical_hash() for lock in locks}) == 1
    for i in indices:
        share = load_share(locks[0], cluster.node_dir(i) / "keys" / "bls-share.json", PASSWORD)
        assert share.index == i
    return locks[0]


def test_dkg_four_processes(tmp_path: Path, clusters: list[ProcessCluster]) -> None:
    cluster = ProcessCluster(tmp_path, 4, 3, phase_timeout=60.0, linger=2.0)
    clusters.append(cluster)
    _, results = run_dkg(cluster, timeout=120)
    assert [r["rc"] for r in results] == [0] * 4, results
    assert len({r["lock_hash"] for r in results}) == 1
    lock = _check_outputs(cluster, [1, 2, 3, 4])
    assert lock.threshold == 3


def test_dkg_five_processes_one_offline(tmp_path: Path, clusters: list[ProcessCluster]) -> None:
    cluster = ProcessCluster(tmp_path, 5, 3, phase_timeout=8.0, linger=1.0)
    clusters.append(cluster)
    members = [cluster.spawn_dkg(i) for i in range(1, 5)]
    results = [m.result(120) for m in members]
    assert [r["rc"] for r in results] == [0] * 4, results
    lock = _check_outputs(cluster, [1, 2, 3, 4])
    assert len(lock.public_shares) == 5
    assert all(r["retries"] > 0 for r in results)  # they kept trying the offline member


def test_dkg_member_killed_and_restarted(tmp_path: Path,
                                        clusters: list[ProcessCluster]) -> None:
    cluster = ProcessCluster(tmp_path, 4, 3, phase_timeout=60.0, linger=2.0)
    clusters.append(cluster)
    definition = ClusterDefinition.load(cluster.definition)
    first = [cluster.spawn_dkg(i) for i in (1, 2, 3)]
    victim_state = state_path(cluster.node_dir(3), definition.ceremony_id())
    deadline = time.monotonic() + 60
    while not victim_state.exists() or "deal" not in first[2].log.read_text():
        assert time.monotonic() < deadline, first[2].log.read_text()
        time.sleep(0.2)
    time.sleep(1.0)  # let it receive and persist some deals (member 4 is not up: no result)
    first[2].kill()
    assert first[2].proc.returncode == -9
    last = cluster.spawn_dkg(4)
    time.sleep(1.0)
    restarted = cluster.spawn_dkg(3)
    results = [m.result(120) for m in (first[0], first[1], restarted, last)]
    assert [r["rc"] for r in results] == [0] * 4, results
    assert "resumed" in restarted.log.read_text()
    _check_outputs(cluster, [1, 2, 3, 4])
    assert not victim_state.exists()
