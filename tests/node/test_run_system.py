"""System: ``oracle-node init``, ``doctor`` and ``run`` as real processes against anvil.

A one-member cluster (t = 1) so the lock is self-contained; the main contract is not needed
for the node to start (its watcher just finds no events), so this exercises the real wiring:
keystores, lock checks, libp2p host, JSON-RPC pool, Submitter ledger, HTTP endpoints,
structured logs and a clean SIGINT shutdown.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from consensus import threshold
from consensus.keystore import encrypt_keystore
from consensus.lock import ClusterLock, LockMember
from oracle_node.keys import read_keystore
from oracle_node.p2p.identity import identity_from_bytes, peer_id_of
from testnet.anvil import anvil_chain, free_port

PASSWORD = "system test password"


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oracle_node.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.mark.system
def test_init_doctor_run_against_anvil(tmp_path: Path) -> None:
    env = {**os.environ, "ORACLE_NODE_PASSWORD": PASSWORD, "COLUMNS": "300"}
    data = tmp_path / "node"
    group, shares, public = threshold.trusted_dealer_split_for_tests(1, 1, b"system")
    share_file = tmp_path / "share.json"
    share_file.write_text(json.dumps(encrypt_keystore(shares[0].secret.to_bytes(), PASSWORD,
                                                      scrypt_n=2**12)))
    init = _cli("init", "--data-dir", str(data), "--import-bls", str(share_file), env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    identity = identity_from_bytes(read_keystore(data / "keys" / "p2p-identity.json", PASSWORD))
    lock = ClusterLock("system", 1, 1, (LockMember(1, peer_id_of(identity), b"\x00" * 48),),
                       group, (group,), tuple(public))
    (tmp_path / "lock.json").write_text(lock.to_json())
    http_port, p2p_port = free_port(), free_port()
    with anvil_chain(chain_id=31401) as chain:
        (tmp_path / "node.toml").write_text(f"""
[node]
data_dir = "{data}"
cluster_lock = "{tmp_path / 'lock.json'}"
[network]
network_id = 9
da_chain = 1
[p2p]
listen = "/ip4/127.0.0.1/tcp/{p2p_port}"
[[chains]]
id = 1
rpc = "{chain.rpc_url}"
evm_chain_id = 31401
contract = "0x{'77' * 20}"
confirmations = 0
[timing]
poll_interval = 0.5
[http]
listen = "127.0.0.1:{http_port}"
[log]
format = "json"
""")
        doctor = _cli("doctor", "--config", str(tmp_path / "node.toml"), env=env)
        out = " ".join(doctor.stdout.split())
        assert doctor.returncode == 1, out  # the contract address has no code
        assert "contract code" in out
        assert "not deployed" in out
        proc = subprocess.Popen([sys.executable, "-m", "oracle_node.cli", "run", "--config",
                                 str(tmp_path / "node.toml")], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            ready = (0, b"")
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    ready = _get(f"http://127.0.0.1:{http_port}/readyz")
                    if ready[0] == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.3)
            assert ready[0] == 200, ready
            status = json.loads(_get(f"http://127.0.0.1:{http_port}/status")[1])
            assert status["chain_heads"]["1"] is not None
            assert status["last_confirmed_block"] == {"1": 0}
            assert status["blocks"] == []  # the tracker's traces (no block proved yet)
            code, body = _get(f"http://127.0.0.1:{http_port}/metrics")
            assert code == 200
            assert b"oracle_chain_head" in body
            assert b"# TYPE oracle_chain_events_total counter" in body
            assert b"# TYPE oracle_p2p_events_total counter" in body
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
        assert proc.returncode == 0, err[-2000:]
        first = next(line for line in err.splitlines() if line.startswith("{"))
        assert json.loads(first)["event"] == "node_started"
