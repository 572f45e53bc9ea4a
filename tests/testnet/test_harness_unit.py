"""Fast tests of the harness: state file, process supervision, summary maths, monitor records."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testnet.harness.errors import HarnessError
from testnet.harness.monitor import ChainMonitor
from testnet.harness.nodes import NodeIdentity
from testnet.harness.options import DEFAULT_CIRCUIT, UpOptions, parse_circuit
from testnet.harness.procs import Supervisor, kill_unfinished
from testnet.harness.rundir import ClusterState, ProcessRecord, latest_run_dir, new_run_dir
from testnet.harness.summary import percentile


def test_state_file_roundtrip_and_latest(tmp_path: Path) -> None:
    run = new_run_dir(tmp_path)
    state = ClusterState(run_dir=str(run), created_unix=1.0, signing_path="nodes",
                         circuit=(8, 2), processes=[ProcessRecord("anvil-1", 123, "x.log",
                                                                  {"rpc": 8545})])
    state.save()
    again = ClusterState.load(run)
    assert again == state
    assert latest_run_dir(tmp_path) == run
    with pytest.raises(HarnessError):
        ClusterState.load(tmp_path / "nowhere")
    with pytest.raises(HarnessError):
        latest_run_dir(tmp_path / "empty")


def test_supervisor_stops_the_whole_process_group(tmp_path: Path) -> None:
    sup = Supervisor()
    # The child starts a grandchild; stopping the child's group must end both.
    code = ("import subprocess, sys, time; "
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "print(p.pid, flush=True); time.sleep(60)")
    child = sup.start("sleeper", [sys.executable, "-c", code], log_path=tmp_path / "s.log")
    grandchild = 0
    for _ in range(200):
        text = (tmp_path / "s.log").read_text().strip()
        if text:
            grandchild = int(text)
            break
        subprocess.run(["sleep", "0.05"], check=True)
    assert grandchild > 0
    sup.stop_all()
    assert not child.alive()
    with pytest.raises(ProcessLookupError):
        for _ in range(100):
            os.kill(grandchild, 0)
            subprocess.run(["sleep", "0.05"], check=True)
    with pytest.raises(HarnessError):
        sup.start("late", [sys.executable, "-c", "pass"], log_path=tmp_path / "l.log")


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0


def test_options_validation() -> None:
    UpOptions().validate()
    with pytest.raises(HarnessError):
        UpOptions(nodes=2, threshold=3).validate()
    with pytest.raises(HarnessError):
        UpOptions(signing="magic").validate()
    assert parse_circuit("16,4") == (16, 4)
    with pytest.raises(HarnessError):
        parse_circuit("16")


def test_monitor_records_latency_and_wrong_confirmations() -> None:
    monitor = ChainMonitor([(1, "http://127.0.0.1:1", "0x" + "00" * 20),
                            (2, "http://127.0.0.1:1", "0x" + "00" * 20)])
    try:
        a, b = monitor.views
        root = b"\x11" * 32
        for view, proven_at, confirmed_at in ((a, 10.0, 12.0), (b, 11.0, 12.5)):
            view.roots[1] = root
            view.confirmed_roots[1] = root
            view.seen_at[("proven", 1)] = proven_at
            view.seen_at[("confirmed", 1)] = confirmed_at
            view.highest["confirmed"] = 1
        record = monitor.record(1)
        assert record.latency_s == pytest.approx(1.5)
        assert record.final_roots_agree
        assert record.confirmed_on == [1, 2]
        assert monitor.wrong_confirmations() == []
        b.confirmed_roots[1] = b"\x22" * 32
        assert monitor.wrong_confirmations() == [(2, 1)]
        monitor.poll()  # nothing listens on port 1: the error is recorded, not raised
        assert a.error
        assert b.error
    finally:
        monitor.close()


def test_a_later_confirmation_confirms_earlier_blocks() -> None:
    """The gate confirms every block up to the confirmed one; block 1 needs no event of its own."""
    monitor = ChainMonitor([(1, "http://127.0.0.1:1", "0x" + "00" * 20)])
    try:
        (view,) = monitor.views
        view.seen_at[("proven", 1)] = 1.0
        view.seen_at[("proven", 2)] = 2.0
        view.seen_at[("confirmed", 2)] = 5.0
        assert monitor.record(1).confirmed_on == [1]
        assert monitor.record(1).latency_s == pytest.approx(4.0)
        assert monitor.record(3).confirmed_on == []
    finally:
        monitor.close()


def test_nodes_are_refused_for_a_circuit_they_cannot_replay() -> None:
    from testnet.harness.nodes import circuit_mismatch_reason, node_rollup_supported

    assert circuit_mismatch_reason(DEFAULT_CIRCUIT) is None
    reason = circuit_mismatch_reason((8, 2))
    if node_rollup_supported():  # the node takes [rollup] depth/capacity from its config
        assert reason is None
    else:
        assert reason is not None
        assert "8,2" in reason


def test_node_config_extra_is_merged_and_parses(tmp_path: Path) -> None:
    """The rendered node.toml (with a scenario's extras) is a config the node accepts."""
    import tomllib
    from types import SimpleNamespace

    from oracle_node.config import parse_config
    from testnet.harness.nodes import base_config, merge_extra, node_rollup_supported, render_toml

    chain = {"rollup_chain_id": 1, "rpc_url": "http://127.0.0.1:1", "evm_chain_id": 31338,
             "main": "0x" + "ab" * 20}
    cluster = SimpleNamespace(network_id=77, options=UpOptions(circuit=(8, 2)),
                              state=SimpleNamespace(chains=[chain]))
    tables, chains = base_config(cluster, tmp_path, tmp_path / "lock.json",  # type: ignore[arg-type]
                                 9000, 9100, ["/ip4/127.0.0.1/tcp/9001/p2p/QmA"])
    merge_extra(tables, chains, {"p2p": {"bootstrap": ["/ip4/127.0.0.1/tcp/9002/p2p/QmB"]},
                                 "chains": {"confirmations": 4},
                                 "network": {"rotation_grace": 2.5}})
    doc = tomllib.loads(render_toml(tables, chains))
    assert doc["p2p"]["bootstrap"][1].endswith("QmB")
    assert doc["network"]["rotation_grace"] == 2.5
    config = parse_config(doc, base_dir=tmp_path)
    assert [c.confirmations for c in config.chains] == [4]
    assert len(config.bootstrap) == 2
    assert ("rollup" in doc) == node_rollup_supported()
    with pytest.raises(HarnessError):
        render_toml({"x": {"bad": {"nested": 1}}}, [])


def test_load_verifying_key_reads_only_the_verifying_key(tmp_path: Path) -> None:
    """Verify-only keys come from vk.bin + meta.json (no pk.bin needed); no cache -> error."""
    import shutil

    from oracle_node.errors import ProverError
    from oracle_node.prover import load_verifying_key
    from oracle_node.prover.circuit import circuit_hash
    from oracle_node.prover.keys import default_cache_dir
    from oracle_node.rollup.state import RollupParams

    # The small CI circuit: set up (or found in the cache) so this test always runs.
    depth, capacity = 8, 2
    from oracle_node.prover import load_or_setup

    load_or_setup(depth, capacity)
    digest = circuit_hash(RollupParams(depth=depth, capacity=capacity))
    cached = default_cache_dir() / digest
    assert (cached / "vk.bin").is_file()
    with pytest.raises(ProverError, match="no cached setup"):
        load_verifying_key(depth, capacity, tmp_path)
    (tmp_path / digest).mkdir()
    for name in ("vk.bin", "meta.json"):
        shutil.copyfile(cached / name, tmp_path / digest / name)
    keys = load_verifying_key(depth, capacity, tmp_path)
    assert (keys.params.depth, keys.params.capacity, keys.circuit_hash) == (depth, capacity,
                                                                            digest)
    assert not keys.can_prove
    assert not keys.proving_key_loaded
    with pytest.raises(ProverError, match="verify-only"):
        _ = keys.pk
    (tmp_path / digest / "vk.bin").write_bytes(b"\x00" * 16)
    with pytest.raises(ProverError, match="cannot load the verifying key"):
        load_verifying_key(depth, capacity, tmp_path)


def test_keys_option_is_dkg_by_default_and_validated() -> None:
    assert UpOptions().keys == "dkg"
    UpOptions(keys="dealer").validate()
    with pytest.raises(HarnessError, match="--keys"):
        UpOptions(keys="magic").validate()


def test_dkg_locks_must_agree() -> None:
    from testnet.harness.dkg import DkgMismatch, agreed_lock
    from testnet.harness.signers import deal

    one, other = deal(2, 3, seed=b"a" * 32), deal(2, 3, seed=b"b" * 32)
    peers = ["peer-1", "peer-2", "peer-3"]
    lock = one.lock(peers, name="t")
    same = one.lock(peers, name="t")
    assert agreed_lock([(1, lock), (2, same)]) is lock
    with pytest.raises(DkgMismatch, match="differ"):
        agreed_lock([(1, lock), (2, same), (3, other.lock(peers, name="t"))])
    with pytest.raises(DkgMismatch, match="differ"):  # same key, different name
        agreed_lock([(1, lock), (2, one.lock(peers, name="u"))])
    with pytest.raises(DkgMismatch):
        agreed_lock([])


def test_dkg_summary_line_is_the_last_json_object() -> None:
    from testnet.harness.dkg import last_json_line

    text = 'DKG local: member 1\n{"lock_hash": "aa", "seconds": 1.5}\n{broken\n'
    assert last_json_line(text) == {"lock_hash": "aa", "seconds": 1.5}
    assert last_json_line("no json here\n[1, 2]\n") is None


def _identity(tmp_path: Path, index: int, password: str) -> NodeIdentity:
    from oracle_node.keys import IDENTITY_FILE, write_keystore
    from oracle_node.p2p.identity import generate_identity, identity_to_bytes, peer_id_of

    node_dir = tmp_path / f"node-{index}"
    key = generate_identity()
    write_keystore(node_dir / "data" / "keys" / IDENTITY_FILE, identity_to_bytes(key),
                   password, description="test identity")
    return NodeIdentity(index, node_dir, password, peer_id_of(key), "0x" + "00" * 20)


def test_dkg_definition_uses_the_nodes_own_identities(tmp_path: Path) -> None:
    """The definition names each node by the peer id of its ``oracle-node init`` identity
    and its ceremony key is derived from that identity; a mismatch is refused."""
    import dataclasses

    from oracle_node.ceremony.definition import ClusterDefinition
    from testnet.harness.dkg import write_definition

    idents = [_identity(tmp_path, i, "password-123") for i in (1, 2, 3)]
    path = write_definition(idents, out=tmp_path / "cluster", name="t", network_id=9,
                            threshold=2)
    spec = ClusterDefinition.load(path)
    assert [m.peer_id for m in spec.members] == [i.peer_id for i in idents]
    assert spec.threshold == 2
    assert spec.network_id == 9
    assert len({m.multiaddr for m in spec.members}) == 3
    wrong = dataclasses.replace(idents[0], peer_id=idents[1].peer_id)
    with pytest.raises(HarnessError, match="identity keystore"):
        write_definition([wrong], out=tmp_path / "c2", name="t", network_id=9, threshold=1)


def test_a_failed_dkg_member_fails_loudly(tmp_path: Path) -> None:
    """A member whose ``oracle-node dkg`` exits non-zero fails the whole ceremony (DkgFailed
    naming the node and its log tail); the other members are stopped."""
    import time

    from testnet.harness.dkg import DkgFailed, RunningDkg

    idents = [_identity(tmp_path, i, "password-123") for i in (1, 2)]
    supervisor = Supervisor()
    try:
        children = [
            supervisor.start("dkg-1", [sys.executable, "-c", "import sys; print('boom'); "
                                       "sys.exit(3)"], log_path=tmp_path / "d1.log"),
            supervisor.start("dkg-2", [sys.executable, "-c", "import time; time.sleep(30)"],
                             log_path=tmp_path / "d2.log")]
        running = RunningDkg(idents, supervisor, children, tmp_path / "def.json", tmp_path,
                             time.monotonic())
        with pytest.raises(DkgFailed, match=r"node 1: `oracle-node dkg` exited 3: boom"):
            running.finish(wait_s=3.0)
        assert children[1].process.poll() is not None
    finally:
        supervisor.stop_all()


def test_kill_unfinished_kills_and_reaps_only_running() -> None:
    done = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    done.wait()
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    kill_unfinished([done, None, running])
    assert done.returncode == 3
    assert running.returncode is not None
    assert running.returncode < 0


def test_run_tools_outputs_in_order_and_errors_name_the_step() -> None:
    from testnet.scenarios.base import run_tools

    code = "import os, sys; print(os.environ['ORACLE_GOV_KEY'] + sys.argv[1])"
    outs = run_tools("py", [[sys.executable, "-c", code, "a"], [sys.executable, "-c", code, "b"]],
                     gov_key="k")
    assert outs == ["ka\n", "kb\n"]
    failing = [sys.executable, "-c", "import sys; sys.exit('nope')", "step-x"]
    with pytest.raises(HarnessError, match=r"py step-x exited 1: nope"):
        run_tools("py", [failing], gov_key="k")
