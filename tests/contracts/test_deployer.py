"""Deploy tooling: idempotent re-runs, the deployments file, the group key and the signer-set
contract, the EIP-2537 self-test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from eth_account import Account

from deploy import bindings, deployer
from deploy.errors import ChainUnsupportedError, DeploymentError
from deploy.selftest import check_bls_precompiles
from testnet.anvil import anvil_chain

from .conftest import COMMITTEE, EMERGENCY_DELAY, GOVERNOR_KEY, NETWORK_ID, Network, network_spec
from .kit import SquareCircuit


def _nonces(net: Network) -> list[int]:
    me = Account.from_key(GOVERNOR_KEY).address
    return [int(m.rpc.call("eth_getTransactionCount", [me, "latest"]), 16) for m in net.mains]


@pytest.mark.system
def test_rerun_skips_live_deployments(net: Network, tmp_path: Path) -> None:
    path = tmp_path / "deployments.json"
    shutil.copy(net.deployments_file, path)
    before, nonces = path.read_text(), _nonces(net)
    again = deployer.deploy_network(net.spec, path)
    assert _nonces(net) == nonces
    assert path.read_text() == before
    doc = json.loads(before)
    assert doc["network_id"] == NETWORK_ID
    assert doc["chain_ids"] == [1, 2, 3]
    assert doc["governance_chain"] == "chain1"
    for m in net.mains:
        entry = doc["chains"][m.name]
        assert entry["rollup_chain_id"] == m.rollup_chain_id
        assert entry["evm_chain_id"] == m.rpc.chain_id()
        governance = {"signer_sets"} if m.name == "chain1" else set()
        assert set(entry["contracts"]) == {"test_token", "verifier", "group_key_blob",
                                           "main"} | governance
        assert again[m.name].main.address == m.address
        assert all(c["deploy_block"] >= 1 for c in entry["contracts"].values())
        # the gate is live with the network's group key and parameters
        blob = again[m.name].group_key_blob.address
        assert m.rpc.code(blob) == COMMITTEE.group_key.to_eip2537()
        assert m.view("groupKeyCompressed", out="bytes") == COMMITTEE.group_key.to_bytes()
        assert (m.view("networkId"), m.view("epoch"), m.view("emergencyDelay")) == (
            NETWORK_ID, 1, EMERGENCY_DELAY)
    signer_sets = again["chain1"].signer_sets
    assert signer_sets is not None
    assert again["chain2"].signer_sets is None
    gate = net.mains[0].rpc.eth_call(signer_sets.address, bindings.encode_call("gate"))
    assert gate[12:] == bytes.fromhex(net.mains[0].address[2:])
    # the main contract's code vanishes on chain 1: it and the signer-set contract pointing
    # at it are deployed again, nothing else
    m1 = net.mains[0]
    m1.rpc.call("anvil_setCode", [m1.address, "0x"])
    redone = deployer.deploy_network(net.spec, path)
    assert redone["chain1"].main.address != m1.address
    assert redone["chain1"].verifier == again["chain1"].verifier
    assert redone["chain1"].group_key_blob == again["chain1"].group_key_blob
    assert redone["chain2"] == again["chain2"]
    assert _nonces(net) == [nonces[0] + 2, *nonces[1:]]


@pytest.mark.system
def test_chain_without_eip2537_is_refused(circuit: SquareCircuit, tmp_path: Path) -> None:
    with anvil_chain(chain_id=41009, extra_args=["--hardfork", "cancun"]) as chain:
        with pytest.raises(ChainUnsupportedError, match="BLS12_G1ADD"):
            check_bls_precompiles(chain.rpc, chain="cancun")
        spec = network_spec([chain.rpc_url, chain.rpc_url, chain.rpc_url],
                            circuit.verifier_source())
        with pytest.raises(ChainUnsupportedError):
            deployer.deploy_network(spec, tmp_path / "d.json")
        assert not (tmp_path / "d.json").exists()


@pytest.mark.system
def test_prague_chain_passes_selftest() -> None:
    with anvil_chain(chain_id=41010) as chain:
        check_bls_precompiles(chain.rpc, chain="prague")


def test_load_network_spec_toml(tmp_path: Path, circuit: SquareCircuit,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "verifier.vy").write_text(circuit.verifier_source())
    monkeypatch.setenv("TEST_DEPLOYER_KEY", GOVERNOR_KEY)
    (tmp_path / "net.toml").write_text(f"""
network_id = 5
block_capacity = 4
genesis_state_root = "0x{'11' * 32}"
verifier_file = "verifier.vy"
deployments_file = "out/deployments.json"
group_key = "0x{COMMITTEE.group_key.to_bytes().hex()}"
governance_chain = "a"
account_tree_depth = 8
[[chains]]
name = "b"
rpc_url = "http://127.0.0.1:1"
rollup_chain_id = 9
deployer_key_env = "TEST_DEPLOYER_KEY"
[[chains]]
name = "a"
rpc_url = "http://127.0.0.1:2"
rollup_chain_id = 4
deployer_key = "{GOVERNOR_KEY}"
""")
    spec = deployer.load_network_spec(tmp_path / "net.toml")
    assert spec.chain_ids == (4, 9)
    assert spec.network_id == 5
    assert spec.deployments_file == tmp_path / "out" / "deployments.json"
    assert spec.chains[0].deployer_key == GOVERNOR_KEY
    assert spec.group_key_eip2537() == COMMITTEE.group_key.to_eip2537()
    assert (spec.governance_chain_name, spec.account_tree_depth) == ("a", 8)
    text = (tmp_path / "net.toml").read_text()
    (tmp_path / "net.toml").write_text(text.replace('group_key = "0x', 'group_key = "0x00'))
    with pytest.raises(DeploymentError, match="group_key"):
        deployer.load_network_spec(tmp_path / "net.toml")
    (tmp_path / "net.toml").write_text(text)
    monkeypatch.delenv("TEST_DEPLOYER_KEY")
    with pytest.raises(DeploymentError, match="deployer_key"):
        deployer.load_network_spec(tmp_path / "net.toml")


def test_verifier_capacity_mismatch_is_refused(circuit: SquareCircuit) -> None:
    with pytest.raises(DeploymentError, match=r"uint256\[13\]"):
        deployer.compile_verifier(circuit.verifier_source(), 5)
    with pytest.raises(DeploymentError):
        deployer.main_contract_params(0, 3)
