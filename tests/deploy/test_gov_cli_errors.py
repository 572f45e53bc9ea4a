"""``oracle-gov`` on bad input: one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deploy.gov_cli import app
from testnet.anvil import DEV_PRIVATE_KEYS, AnvilChain, anvil_chain

GATE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
KEY96 = "0x" + "00" * 96
SIG48 = "0x" + "00" * 48


@pytest.fixture
def dead_rpc() -> str:
    """A loopback URL with nothing listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _run(args: list[str], code: int, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("args", [
    ["status", "--gate", GATE],
    ["status", "--gate", GATE, "--signer-sets", GATE],
    ["handover-message", "--gate", GATE, "--new-key", KEY96],
    ["pause", "--gate", GATE],
])
def test_dead_rpc_is_one_line_exit_1(dead_rpc: str, args: list[str]) -> None:
    line = _run([*args, "--rpc", dead_rpc], 1)
    assert line.startswith("error: ")
    assert "Connection refused" in line


@pytest.mark.parametrize(("args", "needle"), [
    (["status", "--gate", "0xzz"], "not an address"),
    (["status", "--gate", GATE[:-2]], "not an address"),
    (["handover-message", "--gate", GATE, "--new-key", "0xzz"], "--new-key is not 0x-hex"),
    (["handover", "--gate", GATE, "--new-key", KEY96, "--signature", "0xq1"],
     "--signature is not 0x-hex"),
    (["schedule-replacement", "--gate", GATE, "--new-key", "nothex"], "--new-key is not 0x-hex"),
])
def test_malformed_input_is_one_line_exit_2(dead_rpc: str, args: list[str],
                                            needle: str) -> None:
    """Malformed local input is rejected before any RPC (the endpoint here is dead)."""
    line = _run([*args, "--rpc", dead_rpc], 2)
    assert line.startswith("bad input: ")
    assert needle in line


def test_malformed_members_file(tmp_path: Path, dead_rpc: str) -> None:
    path = tmp_path / "members.json"
    base = ["propose-signer-set", "--rpc", dead_rpc, "--signer-sets", GATE, "--members",
            str(path), "--threshold", "1", "--activation-block", "5", "--print-only"]
    for text in ("not json", '{"a": 1}', '[{"peer_id": "0xzz", "public_key": "0x", "pop": "0x"}]',
                 "[1]"):
        path.write_text(text)
        assert _run(base, 2).startswith("bad signer set: ")
    assert "missing.json" in _run([*base[:6], str(tmp_path / "missing.json"), *base[7:]], 2)


def test_malformed_partial_files(tmp_path: Path) -> None:
    lock = tmp_path / "lock.json"
    partial = tmp_path / "partial.json"
    for text in ("not json", "{}", "[1, 2]"):
        lock.write_text(text)
        partial.write_text(text)
        assert _run(["handover-combine", "--lock", str(lock), str(partial)], 2).startswith(
            "error: ")
    assert "none.json" in _run(["handover-combine", "--lock", str(tmp_path / "none.json"),
                                 str(partial)], 2)


@pytest.fixture(scope="module")
def chain() -> Iterator[AnvilChain]:
    """One anvil chain for the module."""
    with anvil_chain(chain_id=31071) as running:
        yield running


@pytest.mark.system
def test_non_contract_wrong_contract_and_keys(chain: AnvilChain) -> None:
    from web3 import Web3

    from deploy.gate_tools import TxSender

    accounts = chain.rpc("eth_accounts")
    assert isinstance(accounts, list)
    line = _run(["status", "--rpc", chain.rpc_url, "--gate", str(accounts[0])], 1)
    assert line.startswith("error: ")
    assert "no contract at" in line
    # A contract whose code is a single STOP: not a gate, so views decode nothing.
    sender = TxSender(Web3(Web3.HTTPProvider(chain.rpc_url)), DEV_PRIVATE_KEYS[0])
    other = sender.deploy(bytes.fromhex("6001600c60003960016000f3" + "00"))
    assert _run(["status", "--rpc", chain.rpc_url, "--gate", other], 1).startswith("error: ")
    pause = ["pause", "--rpc", chain.rpc_url, "--gate", other, "--key-env", "RV_GOV_KEY"]
    assert "set RV_GOV_KEY" in _run(pause, 2, env={"RV_GOV_KEY": ""})
    assert _run(pause, 2, env={"RV_GOV_KEY": "0x1234"}).startswith("bad input: ")
