"""Operator-facing CLI errors name the offending key or table and exit 2 (no traceback)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from consensus import threshold
from consensus.keystore import encrypt_keystore
from consensus.lock import ClusterLock, LockMember
from oracle_node.cli import app
from oracle_node.errors import ConfigError
from oracle_node.health import HealthState, serve_http
from oracle_node.keys import IDENTITY_FILE, read_keystore
from oracle_node.metrics import NodeMetrics
from oracle_node.p2p.identity import identity_from_bytes, peer_id_of


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    code = ("import sys; from oracle_node.cli import main; "
            "sys.argv = ['oracle-node', *sys.argv[1:]]; main()")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         timeout=120)
    # rich wraps long lines at the terminal width; compare the words, not the layout
    return subprocess.CompletedProcess(out.args, out.returncode, " ".join(out.stdout.split()),
                                       out.stderr)


def test_missing_table_is_named_literally(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text('[network]\nid = "x"\n')
    out = _run("run", "--config", str(config))
    assert out.returncode == 2
    assert "[node]: missing table" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def test_unreadable_and_malformed_configs_exit_2(tmp_path: Path) -> None:
    missing = _run("run", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2
    assert "cannot read config" in missing.stdout
    garbage = tmp_path / "garbage.toml"
    garbage.write_text("this is = = not toml\n")
    bad = _run("run", "--config", str(garbage))
    assert bad.returncode == 2
    assert "not valid TOML" in bad.stdout


def _dead_node_config(tmp_path: Path) -> Path:
    """The example config with its data dir in ``tmp_path`` and nothing on its loopback ports."""
    example = Path(__file__).resolve().parents[2] / "deploy" / "node" / "node.example.toml"
    text = (example.read_text().replace("/var/lib/oracle-node", str(tmp_path / "data"))
            .replace("127.0.0.1:9100", "127.0.0.1:9"))
    config = tmp_path / "node.toml"
    config.write_text(text)
    return config


def test_status_with_a_corrupt_database_is_a_one_line_error(tmp_path: Path) -> None:
    config = _dead_node_config(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "node.db").write_bytes(b"not a sqlite database " * 10)
    out = _run("status", "--config", str(config))
    assert out.returncode == 2
    assert "unusable" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def test_status_without_node_or_database_says_so(tmp_path: Path) -> None:
    out = _run("status", "--config", str(_dead_node_config(tmp_path)))
    assert "node not answering" in out.stdout
    assert "no node database" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def test_http_listen_on_a_busy_port_is_a_config_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"http.listen: cannot listen on 127.0.0.1:{port}"):
            serve_http(HealthState(interval=1.0), NodeMetrics(cluster="c", peer="p"),
                       "127.0.0.1", port)
    with pytest.raises(ConfigError, match=r"http\.listen: cannot listen on 127\.0\.0\.1:99999"):
        serve_http(HealthState(interval=1.0), NodeMetrics(cluster="c", peer="p"),
                   "127.0.0.1", 99999)


def test_run_with_keys_and_lock_but_dead_rpcs_names_the_chain(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    password = "correct horse battery"
    monkeypatch.setenv("ORACLE_NODE_PASSWORD", password)
    config = _dead_node_config(tmp_path)  # chains on 127.0.0.1 ports nothing listens on
    config.write_text(config.read_text()
                      .replace('"https://eth-rpc-1.example.org", "https://eth-rpc-2.example.org"',
                               '"http://127.0.0.1:9"')
                      .replace("https://arb-rpc.example.org", "http://127.0.0.1:1")
                      .replace("/etc/oracle-node/cluster-lock.json", str(tmp_path / "lock.json")))
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--data-dir", str(tmp_path / "data")]).exit_code == 0
    keys = tmp_path / "data" / "keys"
    me = peer_id_of(identity_from_bytes(read_keystore(keys / IDENTITY_FILE, password)))
    group, shares, public = threshold.trusted_dealer_split_for_tests(1, 1, b"dead-rpc")
    lock = ClusterLock("c", 1, 1, (LockMember(1, str(me), b"\x00" * 48),), group, (group,),
                       tuple(public))
    (tmp_path / "lock.json").write_text(lock.to_json())
    (keys / "bls-share.json").write_text(json.dumps(
        encrypt_keystore(shares[0].secret.to_bytes(), password, scrypt_n=2**12)))
    result = runner.invoke(app, ["run", "--config", str(config)])
    out = " ".join(result.output.split())
    assert result.exit_code == 2, out
    assert "error: chain 1 (ethereum): every endpoint failed" in out
    assert "Traceback" not in out


def test_status_with_an_invalid_url_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["status", "--config", str(_dead_node_config(tmp_path)),
                                      "--url", "http://[::1"])
    assert result.exit_code == 2
    assert "status URL 'http://[::1'" in " ".join(result.output.split())
    assert result.exception is None or isinstance(result.exception, SystemExit)
