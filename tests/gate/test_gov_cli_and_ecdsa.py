"""``oracle-gov`` against a real gate, and the ECDSA k-of-n baseline contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_abi.abi import encode
from eth_account import Account
from typer.testing import CliRunner
from web3 import Web3

from consensus import bls
from consensus.message import signing_message
from deploy.compile import compile_file
from deploy.gate_tools import TxSender, handover_message
from deploy.gov_cli import app
from testnet.anvil import DEV_PRIVATE_KEYS, AnvilChain, anvil_chain

from .support import NETWORK_ID, Committee, deploy_gate, deploy_signer_sets_for

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def chain() -> Iterator[AnvilChain]:
    """One anvil chain for the module."""
    with anvil_chain(chain_id=31020) as running:
        yield running


def test_oracle_gov_end_to_end(chain: AnvilChain, committee: Committee,
                               next_committee: Committee, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    gate = deploy_gate(chain, committee.group_key)
    registry = deploy_signer_sets_for(gate)
    runner = CliRunner()
    common = ["--rpc", chain.rpc_url]
    monkeypatch.setenv("ORACLE_GOV_GATE", gate.address)
    monkeypatch.setenv("ORACLE_GOV_SIGNER_SETS", registry.address)
    monkeypatch.setenv("ORACLE_GOV_KEY", DEV_PRIVATE_KEYS[0])

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, [*args, *common])
        assert result.exit_code == code, result.output
        return result.output

    status = json.loads(run("status"))
    assert status["epoch"] == 1
    assert status["paused"] is False
    assert status["group_key"] == "0x" + committee.group_key.to_bytes().hex()
    run("pause")
    assert json.loads(run("status"))["paused"] is True
    run("unpause")
    monkeypatch.setenv("ORACLE_GOV_KEY", DEV_PRIVATE_KEYS[3])
    assert "NotGovernor" in run("pause", code=1)
    monkeypatch.setenv("ORACLE_GOV_KEY", DEV_PRIVATE_KEYS[0])

    members = [{"peer_id": "0x0024080112" + bytes([s.index]).hex() * 33,
                "public_key": "0x" + bls.public_key(s.secret).to_bytes().hex(),
                "pop": "0x" + bls.pop_prove(s.secret).to_bytes().hex()}
               for s in next_committee.shares]
    path = tmp_path / "members.json"
    path.write_text(json.dumps(members))
    head = int(str(chain.rpc("eth_blockNumber")), 16)
    proposal = ["propose-signer-set", "--members", str(path), "--threshold", "3",
                "--activation-block", str(head + 100)]
    printed = json.loads(run(*proposal, "--print-only"))
    assert printed["to"] == registry.address
    assert printed["data"].startswith("0x")
    run(*proposal)
    assert json.loads(run("status"))["pending_signer_set"]["size"] == len(members)

    new_key = "0x" + next_committee.group_key.to_bytes().hex()
    message = run("handover-message", "--new-key", new_key).strip()
    expected = handover_message(network_id=NETWORK_ID, old_epoch=1,
                                new_key=next_committee.group_key.to_bytes())
    assert message == "0x" + expected.hex()
    from consensus import threshold

    partials = [threshold.partial_sign(s, expected) for s in committee.shares[:3]]
    signature = threshold.combine(partials, 3).to_bytes()  # 48-byte compressed form
    run("handover", "--new-key", new_key, "--signature", "0x" + signature.hex())
    assert json.loads(run("status"))["epoch"] == 2


def test_ecdsa_multisig_needs_k_sorted_distinct_signers(chain: AnvilChain) -> None:
    w3 = Web3(Web3.HTTPProvider(chain.rpc_url))
    sender = TxSender(w3, DEV_PRIVATE_KEYS[0])
    accounts = sorted((Account.from_key(bytes([7, i + 1]) + bytes(30)) for i in range(5)),
                      key=lambda a: int(a.address, 16))
    compiled = compile_file("ecdsa_multisig.vy")
    address = sender.deploy(compiled.bytecode + encode(
        ["address[]", "uint256", "uint256"], [[a.address for a in accounts], 3, NETWORK_ID]))
    contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=compiled.abi)
    root = b"\x09" * 32
    message = signing_message(network_id=NETWORK_ID, epoch=1, block_number=1, final_root=root)

    def sigs(signers: list[object]) -> list[list[object]]:
        signed = [Account.unsafe_sign_hash(message, a.key) for a in signers]  # type: ignore[attr-defined]
        return [[s.v for s in signed], [s.r.to_bytes(32, "big") for s in signed],
                [s.s.to_bytes(32, "big") for s in signed]]

    check = contract.functions.checkSignatures
    assert check(message, *sigs(accounts[:3])).call()
    assert not check(message, *sigs(accounts[:2])).call()
    assert not check(message, *sigs([accounts[1], accounts[0], accounts[2]])).call()
    assert not check(message, *sigs([accounts[0], accounts[0], accounts[1]])).call()
    outsider = Account.from_key(b"\x08" * 32)
    assert not check(message, *sigs([*accounts[:2], outsider])).call()
    sender.send(contract.address, bytes.fromhex(
        contract.encode_abi("recordProvenRoot", [1, root])[2:]))
    args = [1, root, *sigs(accounts[:3])]
    data = bytes.fromhex(contract.encode_abi("confirmFinalRoot", args)[2:])
    receipt = sender.send(contract.address, data, gas=500_000)
    assert len(contract.events.FinalRootConfirmed().process_receipt(receipt)) == 1
    assert contract.functions.last_confirmed().call() == 1
