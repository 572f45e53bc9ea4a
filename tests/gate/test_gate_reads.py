"""The harness's gate reads (``testnet.harness.monitor.gate_key_and_epoch``) on a real gate."""

from __future__ import annotations

import pytest

from testnet.anvil import anvil_chain
from testnet.harness.errors import ChainCallError
from testnet.harness.monitor import gate_key_and_epoch
from testnet.sequencer.evm import EvmClient

from .support import Committee, deploy_gate

pytestmark = pytest.mark.system


def test_gate_key_and_epoch(committee: Committee) -> None:
    with anvil_chain(chain_id=31072) as chain:
        gate = deploy_gate(chain, committee.group_key)
        client = EvmClient(chain.rpc_url)
        try:
            assert gate_key_and_epoch(client, gate.address) == (
                committee.group_key.to_bytes(), 1)
        finally:
            client.close()
        chain.stop()
        client = EvmClient(chain.rpc_url)
        try:
            with pytest.raises(ChainCallError):
                gate_key_and_epoch(client, gate.address)
        finally:
            client.close()
