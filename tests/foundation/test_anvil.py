"""The anvil helper starts a real pinned anvil on a free loopback port and stops it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from oracle_node.errors import ToolchainError
from testnet.anvil import ANVIL_ENV, ANVIL_VERSION, anvil_chain, anvil_version, find_anvil


def test_find_anvil_reports_the_pinned_version() -> None:
    assert anvil_version(find_anvil()) == ANVIL_VERSION


def test_missing_override_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setenv(ANVIL_ENV, str(tmp_path / "no-such-anvil"))
    with pytest.raises(ToolchainError, match="make tools"):
        find_anvil()


@pytest.mark.system
def test_anvil_starts_answers_chain_id_and_stops() -> None:
    with anvil_chain(chain_id=4242) as chain:
        assert chain.rpc_url.startswith("http://127.0.0.1:")
        assert int(str(chain.rpc("eth_chainId")), 16) == 4242
        pid = chain.process.pid
        state_dir = chain.state_dir
    assert chain.process.poll() is not None
    assert not state_dir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.system
def test_two_chains_get_distinct_ports() -> None:
    with anvil_chain(chain_id=1) as first, anvil_chain(chain_id=2) as second:
        assert first.port != second.port
        assert int(str(second.rpc("eth_chainId")), 16) == 2


@pytest.mark.system
def test_anvil_reorg_needs_the_full_history() -> None:
    """``anvil_reorg`` works with ``prune_history=False`` and fails on a pruned chain
    (anvil 1.7.1 answers "Required data unavailable" or "BlockOutOfRangeError")."""
    reorg = [2, [[{"from": "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
                   "to": "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266", "value": "0x0"}, 0]]]
    with anvil_chain(chain_id=31411, prune_history=False) as chain:
        chain.rpc("anvil_mine", ["0x4"])
        before = chain.rpc("eth_getBlockByNumber", ["0x3", False])
        chain.rpc("anvil_reorg", reorg)
        after = chain.rpc("eth_getBlockByNumber", ["0x3", False])
        assert isinstance(before, dict)
        assert isinstance(after, dict)
        assert before["hash"] != after["hash"]
        assert len(after["transactions"]) == 1
    with anvil_chain(chain_id=31412) as pruned:
        pruned.rpc("anvil_mine", ["0x4"])
        with pytest.raises(ToolchainError, match="anvil_reorg failed"):
            pruned.rpc("anvil_reorg", reorg)
