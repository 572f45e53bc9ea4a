"""Operator surface: config validation, deploy files, keys, CLI init/status/doctor, HTTP."""

from __future__ import annotations

import json
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import trio
from typer.testing import CliRunner

from consensus import threshold
from consensus.keystore import encrypt_keystore
from oracle_node.cli import app
from oracle_node.config import load_config, parse_config
from oracle_node.errors import ConfigError, SlashingProtectionError
from oracle_node.health import HealthState, run_checks, serve_http
from oracle_node.keys import load_share, read_keystore
from oracle_node.metrics import NodeMetrics
from oracle_node.store.db import NodeStore, StoredAggregate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "node" / "node.example.toml"


def example_doc() -> dict[str, Any]:
    """The example config as a dict."""
    return tomllib.loads(EXAMPLE.read_text())


def test_example_config_validates() -> None:
    cfg = load_config(EXAMPLE)
    assert [c.id for c in cfg.chains] == [1, 2]
    assert cfg.chains[1].rpc == ("https://arb-rpc.example.org",)
    assert cfg.db_path == Path("/var/lib/oracle-node/node.db")
    assert (cfg.rollup.depth, cfg.rollup.capacity, cfg.rollup.token_slots) == (16, 4, 2)


def test_rollup_table_is_optional_with_core_defaults() -> None:
    doc = example_doc()
    doc.pop("rollup")
    cfg = parse_config(doc, base_dir=Path("/"))
    assert (cfg.rollup.depth, cfg.rollup.capacity, cfg.rollup.token_slots) == (16, 4, 2)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["network"].pop("network_id"), "network.network_id: missing"),
    (lambda d: d["chains"][0].update(contract="0x12"), "chains[0].contract: expected a 0x"),
    (lambda d: d["chains"][1].update(id=1), "chains[*].id: expected distinct"),
    (lambda d: d["network"].update(da_chain=9), "network.da_chain: expected one of"),
    (lambda d: d["p2p"].update(listen="tcp://x"), "p2p.listen: expected a multiaddr"),
    (lambda d: d["timing"].update(stagger=-1), "timing.stagger: expected a positive"),
    (lambda d: d["chains"][0].update(rpc=["ftp://x"]), "chains[0].rpc: expected an http"),
    (lambda d: d.update(extra={}), "extra: unknown top-level key"),
    (lambda d: d["log"].update(format="xml"), 'log.format: expected "kv" or "json"'),
    (lambda d: d["rollup"].update(depth=15), "rollup.depth: expected an even integer"),
    (lambda d: d["rollup"].update(depth=34), "rollup.depth: expected an integer in 2..32"),
    (lambda d: d["rollup"].update(capacity=0), "rollup.capacity: expected an integer in"),
    (lambda d: d["rollup"].update(token_slots="2"), "rollup.token_slots: expected an integer"),
    (lambda d: d["rollup"].update(width=3), "rollup.width: unknown key"),
])
def test_config_errors_name_the_key(mutate: Any, message: str) -> None:
    doc = example_doc()
    mutate(doc)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("*", r"\*")):
        parse_config(doc, base_dir=Path("/"))


def test_deploy_files_are_well_formed() -> None:
    unit = (ROOT / "deploy" / "node" / "oracle-node.service").read_text()
    assert "ExecStart=/usr/local/bin/oracle-node run --config" in unit
    docker = (ROOT / "deploy" / "node" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["oracle-node"]' in docker
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed: compose not parsed")
    compose = yaml.safe_load((ROOT / "deploy" / "node" / "compose.yml").read_text())
    assert "oracle-node" in compose["services"]


def test_store_slashing_and_persistence(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    store = NodeStore.open(path)
    assert store.record_own_signature(5, 1, b"\x01" * 32, b"sig") == b"sig"
    assert store.record_own_signature(5, 1, b"\x01" * 32, b"other") == b"sig"
    store.record_submission(1, 5, "confirmed", b"\x02" * 32, 100, "")
    store.close()
    store = NodeStore.open(path)  # a restart
    with pytest.raises(SlashingProtectionError):
        store.record_own_signature(5, 1, b"\x03" * 32, b"sig3")
    assert store.own_signature(5, 1) == (b"\x01" * 32, b"sig")
    assert store.last_confirmed() == {1: 5}
    store.close()


def test_cli_init_then_doctor_reports_fixes(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORACLE_NODE_PASSWORD", "correct horse battery")
    data = tmp_path / "node"
    _, shares, _ = threshold.trusted_dealer_split_for_tests(2, 3, b"op")
    bls = tmp_path / "share.json"
    bls.write_text(json.dumps(encrypt_keystore(shares[0].secret.to_bytes(),
                                               "correct horse battery", scrypt_n=2**12)))
    runner = CliRunner()
    result = runner.invoke(app, ["init", "--data-dir", str(data), "--import-bls", str(bls)])
    assert result.exit_code == 0, result.output
    assert "peer id:" in result.output
    again = runner.invoke(app, ["init", "--data-dir", str(data)])
    assert again.exit_code == 2
    assert "never overwrites" in again.output
    assert len(read_keystore(data / "keys" / "tx-key.json", "correct horse battery")) == 32
    doc = example_doc()
    doc["node"] = {"data_dir": str(data), "cluster_lock": str(tmp_path / "missing-lock.json")}
    doc["chains"] = [{"id": 1, "rpc": "http://127.0.0.1:9", "evm_chain_id": 5,
                      "contract": "0x" + "11" * 20}]
    doc["network"]["da_chain"] = 1
    doc["p2p"]["bootstrap"] = ["/ip4/127.0.0.1/tcp/9/p2p/12D3KooWX"]
    del doc["keys"]
    cfg_path = tmp_path / "node.toml"
    cfg_path.write_text(_to_toml(doc))
    checks = trio.run(run_checks, cfg_path, None)
    by_name = {c.name: c for c in checks}
    assert by_name["identity key"].ok
    assert by_name["transaction key"].ok
    assert not by_name["cluster lock and BLS share"].ok
    assert "ceremony" in by_name["cluster lock and BLS share"].fix
    assert not by_name["chain 1 rpc[0]"].ok
    assert by_name["chain 1 rpc[0]"].fix
    assert not checks[-1].ok
    assert "firewall" in checks[-1].fix
    result = runner.invoke(app, ["status", "--config", str(cfg_path), "--url",
                                 "http://127.0.0.1:9"])
    assert result.exit_code == 0
    assert "node not answering" in " ".join(result.output.split())


def test_load_share_refuses_foreign_share(tmp_path: Path) -> None:
    from consensus.bls import SecretKey
    from consensus.lock import ClusterLock, LockMember

    _, shares, _ = threshold.trusted_dealer_split_for_tests(2, 3, b"lock")
    # a 1-of-1 dealer gives a lock whose only commitment is the group key
    g1, s1, p1 = threshold.trusted_dealer_split_for_tests(1, 1, b"solo")
    lock = ClusterLock("c", 1, 1, (LockMember(1, "peer", b"\x00" * 48),), g1, (g1,), tuple(p1))
    path = tmp_path / "k.json"
    path.write_text(json.dumps(encrypt_keystore(shares[0].secret.to_bytes(), "pw",
                                                scrypt_n=2**12)))
    with pytest.raises(ConfigError, match="no share of this cluster lock"):
        load_share(lock, path, "pw")
    path.unlink()
    path.write_text(json.dumps(encrypt_keystore(s1[0].secret.to_bytes(), "pw", scrypt_n=2**12)))
    assert load_share(lock, path, "pw").secret == SecretKey(s1[0].secret.value)


def test_http_endpoints(metrics: NodeMetrics) -> None:
    state = HealthState(interval=1.0)
    server = serve_http(state, metrics, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        metrics.inc(metrics.partials_invalid, reason="bad_signature")
        body = urllib.request.urlopen(f"{base}/metrics").read().decode()
        assert 'oracle_partials_invalid_total{cluster="test",peer="p1",reason="bad_signature"}' \
            in body
        assert urllib.request.urlopen(f"{base}/livez").status == 200
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/readyz")
        assert err.value.code == 503
        assert err.value.read() == b"starting"
        state.update({"peer_count": 3}, [])
        assert urllib.request.urlopen(f"{base}/readyz").status == 200
        status = json.loads(urllib.request.urlopen(f"{base}/status").read())
        assert status == {"peer_count": 3}
    finally:
        server.shutdown()
        server.server_close()


def _to_toml(doc: dict[str, Any]) -> str:
    """A tiny TOML writer for the test's config (tables, arrays of tables, scalars, lists)."""
    lines: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return str(v)

    for key, table in doc.items():
        if isinstance(table, list):
            for item in table:
                lines.append(f"[[{key}]]")
                lines += [f"{k} = {value(v)}" for k, v in item.items()]
        else:
            lines.append(f"[{key}]")
            lines += [f"{k} = {value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def test_app_uses_the_rollup_table() -> None:
    from oracle_node.app import RollupReplayer, rollup_params
    from oracle_node.rollup.state import RollupParams

    doc = example_doc()
    doc["rollup"] = {"depth": 8, "capacity": 2, "token_slots": 3}
    params = rollup_params(parse_config(doc, base_dir=Path("/")))
    assert params == RollupParams(depth=8, capacity=2, token_slots=3)
    replayer = RollupReplayer([1, 2], params)
    assert replayer.height == 0
    assert replayer.rollback(0)
    assert not replayer.rollback(1)  # never above the applied height


def test_cli_block_explains_a_refused_then_confirmed_block(tmp_path: Path) -> None:
    data = tmp_path / "node"
    data.mkdir()
    doc = example_doc()
    doc["node"] = {"data_dir": str(data), "cluster_lock": str(tmp_path / "lock.json")}
    cfg_path = tmp_path / "node.toml"
    cfg_path.write_text(_to_toml(doc))
    runner = CliRunner()
    missing = runner.invoke(app, ["block", "2", "--config", str(cfg_path)])
    assert missing.exit_code == 2
    assert "no node database" in " ".join(missing.output.split())
    store = NodeStore.open(data / "node.db")
    store.record_observed_root(2, 1, b"\x0a" * 32, 100)
    store.record_observed_root(2, 2, b"\x0b" * 32, 200)
    store.record_rejected(2, "roots_differ", "chain 1: 0x0a.., chain 2: 0x0b..")
    store.record_observed_root(3, 1, b"\x0c" * 32, 101)
    store.record_verified(3, b"\x0c" * 32, b"\x0d" * 32, 1)
    store.record_own_signature(3, 1, b"\x0c" * 32, b"\x01" * 48)
    store.record_aggregate(StoredAggregate(3, 1, b"\x0c" * 32, b"\x02" * 48, (1, 2, 4)))
    store.record_submission(1, 3, "confirmed", b"\x0e" * 32, 158467, "")
    store.close()
    refused = runner.invoke(app, ["block", "2", "--config", str(cfg_path)])
    assert refused.exit_code == 0, refused.output
    text = " ".join(refused.output.split())
    assert "rejected: roots_differ" in text
    assert "0x" + "0a" * 4 in text
    confirmed = runner.invoke(app, ["block", "3", "--config", str(cfg_path)],
                              env={"COLUMNS": "300"})
    assert confirmed.exit_code == 0, confirmed.output
    text = " ".join(confirmed.output.split())
    assert "verified final_root 0x" + "0c" * 32 in text
    assert "signed epoch 1" in text
    assert "members [1, 2, 4]" in text
    assert "confirmed" in text
    assert "158467" in text
    unknown = runner.invoke(app, ["block", "9", "--config", str(cfg_path)])
    assert "not verified yet" in unknown.output
