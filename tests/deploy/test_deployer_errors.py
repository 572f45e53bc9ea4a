"""``python -m deploy.deployer`` on bad input: a typed error and one line, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from consensus import bls
from deploy import deployer
from deploy.errors import DeploymentError


def _spec(tmp_path: Path) -> deployer.NetworkSpec:
    key = bls.public_key(bls.keygen(b"\x07" * 32)).to_bytes()
    chain = deployer.ChainSpec("a", "http://127.0.0.1:9", 1, "0x" + "11" * 32)
    return deployer.NetworkSpec(network_id=1, block_capacity=1, genesis_state_root=b"\0" * 32,
                                verifier_source="", chains=(chain,), group_key=key,
                                deployments_file=tmp_path / "deployments.json")


@pytest.mark.parametrize("text", ["not json", "[1, 2]"])
def test_malformed_deployments_file_is_a_deployment_error(tmp_path: Path, text: str) -> None:
    spec = _spec(tmp_path)
    assert spec.deployments_file is not None
    spec.deployments_file.write_text(text)
    with pytest.raises(DeploymentError, match="bad deployments file"):
        deployer.deploy_network(spec)


def test_main_reports_a_bad_description_in_one_line(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        deployer.main([str(tmp_path / "missing.toml")])
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: bad network description")
    assert len(err.splitlines()) == 1
