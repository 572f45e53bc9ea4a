"""The oracle gate inside the deployed main contract: governance through ``oracle-gov`` and the
deployed ``signer_sets`` contract, a key handover, and confirmations under the new epoch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

from consensus import bls
from deploy import bindings
from deploy.deployer import load_deployments
from deploy.gate_tools import HANDOVER_GAS_LIMIT, handover_message, key_blob_initcode
from deploy.gov_cli import app

from .conftest import CHAIN_IDS, GOVERNOR_KEY, NETWORK_ID, USER_KEYS, VALIDATOR_KEY, K, Network
from .kit import Committee, commit, commit_input, confirm, prove, root

pytestmark = pytest.mark.system

NEXT = Committee.make(3, 5, b"contracts-tests-committee-seed-2")


def test_oracle_gov_and_signer_sets_on_the_deployed_network(
        net: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m1 = net.mains[0]
    signer_sets = load_deployments(net.deployments_file)["chain1"].signer_sets
    assert signer_sets is not None
    monkeypatch.setenv("ORACLE_GOV_GATE", m1.address)
    monkeypatch.setenv("ORACLE_GOV_SIGNER_SETS", signer_sets.address)
    monkeypatch.setenv("ORACLE_GOV_KEY", GOVERNOR_KEY)
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, [*args, "--rpc", m1.rpc.url])
        assert result.exit_code == 0, result.output
        return result.output

    status = json.loads(run("status"))
    assert (status["epoch"], status["paused"]) == (1, False)
    assert status["group_key"] == "0x" + net.committee.group_key.to_bytes().hex()
    members = [{"peer_id": "0x0024080112" + bytes([s.index]).hex() * 33,
                "public_key": "0x" + bls.public_key(s.secret).to_bytes().hex(),
                "pop": "0x" + bls.pop_prove(s.secret).to_bytes().hex()} for s in NEXT.shares]
    path = tmp_path / "members.json"
    path.write_text(json.dumps(members))
    head = int(str(m1.rpc.call("eth_blockNumber")), 16)
    run("propose-signer-set", "--members", str(path), "--threshold", "3",
        "--activation-block", str(head + 100))
    logs = m1.rpc.call("eth_getLogs", [{"address": signer_sets.address, "fromBlock": hex(head)}])
    (event,) = [bindings.decode_log(log) for log in logs]
    assert isinstance(event, bindings.SignerSetProposed)
    assert (event.epoch, event.proposal_id, event.threshold) == (1, 1, 3)
    assert event.member_keys == tuple(bytes.fromhex(x["public_key"][2:]) for x in members)
    assert json.loads(run("status"))["pending_signer_set"]["size"] == 5


def test_handover_then_confirm_under_the_new_epoch(net: Network) -> None:
    m1 = net.mains[0]
    receipt = m1.rpc.transact(GOVERNOR_KEY, to=None,
                              data=key_blob_initcode(NEXT.group_key.to_eip2537()))
    blob = str(receipt["contractAddress"])
    message = handover_message(network_id=NETWORK_ID, old_epoch=1,
                               new_key=NEXT.group_key.to_bytes())
    handover = bindings.encode_call("handoverGroupKey", ("address", "bytes"),
                                    (blob, net.committee.sign(message)))
    receipt = m1.rpc.transact(USER_KEYS[3], to=m1.address, data=handover,
                              gas=HANDOVER_GAS_LIMIT)
    assert m1.events(receipt) == [bindings.GroupKeyReplaced(2, NEXT.group_key.to_bytes())]
    assert m1.reason(USER_KEYS[3], handover) == "HandoverReplayed"
    blocks = [commit_input(1, root(1), [], K, CHAIN_IDS)]
    commit(m1, VALIDATOR_KEY, blocks)
    prove(m1, USER_KEYS[3], net.circuit, [1], [blocks[0].pubdata])
    final_root = m1.records[1].final_root
    for old in (1, 2):  # the old group's signature is refused at either epoch
        stale = net.committee.sign_root(network_id=NETWORK_ID, epoch=old, block_number=1,
                                        final_root=final_root)
        assert m1.reason(USER_KEYS[3], bindings.encode_confirm_final_root(
            1, final_root, stale)) == "InvalidSignature"
    receipt = confirm(m1, USER_KEYS[3], NEXT, NETWORK_ID, 1)
    submitter = Account.from_key(USER_KEYS[3]).address
    assert m1.events(receipt) == [bindings.FinalRootConfirmed(1, final_root, 2, submitter)]
    execute = bindings.encode_execute_blocks([(m1.records[1], blocks[0].pubdata)])
    assert m1.events(m1.send(USER_KEYS[3], execute)) == [bindings.BlockExecuted(1)]
    # the other chains still run epoch 1 with the old key
    assert [m.view("epoch") for m in net.mains] == [2, 1, 1]
