"""Operators' handover path: ``oracle-node handover-sign`` then ``oracle-gov handover-combine``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from consensus import bls
from consensus.keystore import encrypt_keystore
from consensus.message import handover_message
from deploy.gov_cli import app as gov_app
from oracle_node.cli import app as node_app
from tests.consensus.test_handover import NEW_KEY, lock_and_shares
from tests.node.test_operator import _to_toml, example_doc

OTHER_KEY = bls.public_key(bls.keygen(b"\x22" * 32)).to_bytes()


def test_members_sign_once_per_epoch_and_the_partials_combine(tmp_path: Path) -> None:
    lock, shares = lock_and_shares()
    lock_path = tmp_path / "cluster-lock.json"
    lock_path.write_text(lock.to_json())
    runner = CliRunner()
    env = {"ORACLE_NODE_PASSWORD": "pw"}
    partial_files = []
    for share in shares[:3]:
        data = tmp_path / f"node-{share.index}"
        (data / "keys").mkdir(parents=True)
        (data / "keys" / "bls-share.json").write_text(json.dumps(
            encrypt_keystore(share.secret.to_bytes(), "pw", scrypt_n=2**4)))
        doc = example_doc()
        doc["node"] = {"data_dir": str(data), "cluster_lock": str(lock_path)}
        del doc["keys"]
        config = tmp_path / f"node-{share.index}.toml"
        config.write_text(_to_toml(doc))
        out = tmp_path / f"partial-{share.index}.json"
        args = ["handover-sign", "--config", str(config), "--old-epoch", "1",
                "--new-key", "0x" + NEW_KEY.hex()]
        signed = runner.invoke(node_app, [*args, "--out", str(out)], env=env)
        assert signed.exit_code == 0, signed.output
        partial_files.append(out)
        again = runner.invoke(node_app, args, env=env)  # the same handover: signed again
        assert again.exit_code == 0, again.output
        other = runner.invoke(node_app, [*args[:-1], "0x" + OTHER_KEY.hex()], env=env)
        assert other.exit_code == 1
        assert "already signed a handover from epoch 1" in " ".join(other.output.split())
    network_id = example_doc()["network"]["network_id"]
    combined = runner.invoke(gov_app, ["handover-combine", "--lock", str(lock_path),
                                       *map(str, partial_files)])
    assert combined.exit_code == 0, combined.output
    signature = bytes.fromhex(combined.stdout.strip().splitlines()[-1].removeprefix("0x"))
    message = handover_message(network_id=network_id, old_epoch=1, new_key=NEW_KEY)
    assert bls.verify(lock.group_public_key, message, bls.Signature.from_bytes(signature))
    short = runner.invoke(gov_app, ["handover-combine", "--lock", str(lock_path),
                                    *map(str, partial_files[:2])])
    assert short.exit_code == 2
    assert "the lock needs 3" in short.output


def _one_member(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(config, data dir, lock path) of member 1 with its share keystore (password "pw")."""
    lock, shares = lock_and_shares()
    lock_path = tmp_path / "cluster-lock.json"
    lock_path.write_text(lock.to_json())
    data = tmp_path / "node-1"
    (data / "keys").mkdir(parents=True)
    (data / "keys" / "bls-share.json").write_text(json.dumps(
        encrypt_keystore(shares[0].secret.to_bytes(), "pw", scrypt_n=2**4)))
    doc = example_doc()
    doc["node"] = {"data_dir": str(data), "cluster_lock": str(lock_path)}
    del doc["keys"]
    config = tmp_path / "node-1.toml"
    config.write_text(_to_toml(doc))
    return config, data, lock_path


def test_handover_sign_refuses_bad_input_with_one_line(tmp_path: Path) -> None:
    config, data, lock_path = _one_member(tmp_path)
    runner = CliRunner()
    args = ["handover-sign", "--config", str(config), "--old-epoch", "1", "--new-key"]
    good = "0x" + NEW_KEY.hex()

    def refused(new_key: str, password: str = "pw") -> str:
        result = runner.invoke(node_app, [*args, new_key],
                               env={"ORACLE_NODE_PASSWORD": password})
        assert result.exit_code == 1, result.output
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit), result.exception
        return " ".join(result.output.split())

    assert "--new-key: expected 0x-prefixed hex" in refused("0xzz")
    assert "--new-key: expected 0x-prefixed hex" in refused("0x123")
    assert "not a valid G2 point" in refused("0x1234")
    assert "wrong password" in refused(good, password="nope")
    record = data / "handover-signatures.json"
    record.write_text("[1, 2]")
    assert "a handover record must map epochs" in refused(good)
    record.write_text("{garbage")
    assert "unreadable handover record" in refused(good)
    record.unlink()
    lock_path.write_bytes(b"\xff\xfe")
    assert "not UTF-8 text" in refused(good)
    lock_path.write_text("[]")
    assert "is not a valid lock: expected a JSON object" in refused(good)
    lock_path.unlink()
    assert "cannot read" in refused(good)
    assert not record.exists()  # nothing was signed
