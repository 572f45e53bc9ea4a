"""System test of the sequencer alone on two real anvil chains with the real contracts and real
Groth16 proofs (circuit d=8, k=2): traffic, commit and prove everywhere, and the lie-ops mode
(one chain proves a different final_root), then revert and honest recommit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from testnet.anvil import AnvilChain, start_anvil
from testnet.harness.cluster import DEPLOYER_KEY, USER_KEYS, VALIDATOR_KEY
from testnet.harness.deployment import deploy_all, fund_users
from testnet.harness.signers import deal
from testnet.sequencer.config import ChainSpec, SequencerConfig
from testnet.sequencer.core import Sequencer
from testnet.sequencer.eventlog import EventLog
from testnet.sequencer.proving import make_prover

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def two_chains() -> Iterator[list[AnvilChain]]:
    chains = [start_anvil(chain_id=31337 + c) for c in (1, 2)]
    try:
        yield chains
    finally:
        for chain in chains:
            chain.stop()


def _sequencer(chains: list[AnvilChain], tmp_path: Path, **overrides: object) -> Sequencer:
    urls = [(c, ch.rpc_url) for c, ch in zip((1, 2), chains, strict=True)]
    deployed = deploy_all(run_dir=tmp_path, chains=urls, network_id=77, circuit=(8, 2),
                          group_key=deal(2, 3).group_key, deployer_key=DEPLOYER_KEY,
                          validator_key=VALIDATOR_KEY, console=Console(quiet=True))
    fund_users(deployed, urls, minter_key=DEPLOYER_KEY, user_keys=list(USER_KEYS))
    config = SequencerConfig(
        chains=tuple(ChainSpec(c, url, deployed.mains[c], deployed.tokens[c]) for c, url in urls),
        validator_key=VALIDATOR_KEY, user_keys=tuple(USER_KEYS), depth=8, capacity=2,
        events_path=str(tmp_path / "events.jsonl"), **overrides)  # type: ignore[arg-type]
    log = EventLog(tmp_path / "events.jsonl")
    return Sequencer(config, make_prover(config, log), log)


def _step(seq: Sequencer) -> int:
    seq.send_deposits()
    seq.poll_queues()
    before, result = seq.build(seq.next_ops())
    seq.publish(result, seq.prove(before, result))
    return result.block_number


def test_sequencer_commits_and_proves_on_every_chain_and_lies_on_request(
        two_chains: list[AnvilChain], tmp_path: Path) -> None:
    seq = _sequencer(two_chains, tmp_path, mode="lie-ops", dishonest_block=2, recover_after=1.0)
    try:
        _check_lie_and_recovery(seq, tmp_path)
    finally:
        seq.close()


def _check_lie_and_recovery(seq: Sequencer, tmp_path: Path) -> None:
    assert _step(seq) == 1
    for chain in seq.chains.values():
        assert chain.view_uint("total_blocks_proven") == 1
    assert seq.records[1][1].sync_hash == seq.records[2][1].sync_hash  # same final_root
    assert _step(seq) == 2  # lies to chain 2, waits, reverts, recommits honestly
    events = {e: n for e, n in seq.log.counts.items()}
    assert events["dishonest"] == 1
    assert events["reverted"] == 2
    assert events["recovered"] == 1
    lies = [line for line in (tmp_path / "events.jsonl").read_text().splitlines()
            if '"proved"' in line and '"block": 2' in line]
    roots = {line.split('"final_root": "')[1][:66] for line in lies}
    assert len(roots) == 2  # the lie gave chain 2 another final_root; the recommit agreed
    for chain in seq.chains.values():
        assert chain.view_uint("total_blocks_proven") == 2
        assert chain.view_uint("total_blocks_committed") == 2
    assert seq.records[1][2].sync_hash == seq.records[2][2].sync_hash
    assert seq.results[2].final_root == seq.records[1][2].sync_hash
