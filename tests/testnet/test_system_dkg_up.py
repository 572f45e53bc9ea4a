"""System test: ``up`` with ``--keys dkg`` (the default). The node processes run the DKG among
themselves over real libp2p; the contracts get the lock's group key; real ``oracle-node run``
processes confirm, and the sequencer executes, 2 blocks on 2 anvil chains (~1.5-2 min)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_abi.abi import decode
from rich.console import Console

from consensus.lock import ClusterLock
from deploy import bindings
from testnet.harness.cluster import Cluster
from testnet.harness.nodes import node_unavailable_reason
from testnet.harness.options import UpOptions
from testnet.harness.rundir import ClusterState
from testnet.harness.runner import run_cluster
from testnet.sequencer.evm import EvmClient
from tests.testnet.processes import pid_running

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.timeout(300)]


def _group_keys_on_chain(cluster: Cluster, seen: dict[int, bytes]) -> None:
    selector = bindings.encode_call("groupKeyCompressed")
    for chain in cluster.state.chains:
        client = EvmClient(chain["rpc_url"])
        try:
            (key,) = decode(["bytes"], client.call(chain["main"], selector))
        finally:
            client.close()
        seen[chain["rollup_chain_id"]] = bytes(key)


def test_up_with_the_dkg_confirms_and_executes_blocks(tmp_path: Path) -> None:
    reason = node_unavailable_reason()
    if reason is not None:
        pytest.skip(f"needs oracle-node processes: {reason}")
    run_dir = tmp_path / "run"
    on_chain: dict[int, bytes] = {}
    options = UpOptions(chains=2, nodes=4, threshold=3, blocks=2, run_dir=run_dir,
                        live=False, timeout=200, signing="nodes", keys="dkg")
    code, summary, cluster = run_cluster(options, console=Console(width=120, quiet=True),
                                         on_started=lambda c: _group_keys_on_chain(c, on_chain))
    assert cluster is not None
    assert summary is not None, "the cluster did not start"
    assert code == 0, summary["failures"]
    assert summary["keys_path"] == "dkg"
    assert summary["trusted_dealer"] is False
    assert not any("TRUSTED DEALER" in note for note in summary["notes"])
    assert summary["signing_path"] == "nodes"
    assert summary["executed_everywhere"] >= 2
    assert summary["wrong_confirmations"] == []
    for block in summary["blocks"][:2]:
        assert block["confirmed_on"] == [1, 2]
        assert block["executed_on"] == [1, 2]

    # Every member wrote its own lock and share; the locks agree with the harness's copy.
    agreed = ClusterLock.from_json((run_dir / "cluster" / "cluster-lock.json").read_text())
    for i in range(1, 5):
        data = run_dir / "nodes" / f"node-{i}" / "data"
        own = ClusterLock.from_json((data / "cluster-lock.json").read_text())
        assert own.canonical_hash() == agreed.canonical_hash()
        assert (data / "keys" / "bls-share.json").exists()
        assert not (run_dir / "nodes" / f"node-{i}" / "bls-share-dealt.json").exists()
    assert summary["dkg"]["lock_hash"] == "0x" + agreed.canonical_hash().hex()

    # The contracts carry the lock's group key on every chain.
    assert set(on_chain) == {1, 2}
    for key in on_chain.values():
        assert key == agreed.group_public_key.to_bytes()

    state = ClusterState.load(run_dir)
    assert state.keys_path == "dkg"
    assert state.dkg["lock_hash"] == summary["dkg"]["lock_hash"]
    for record in state.processes:
        assert not pid_running(record.pid), record.name
