"""The node's view of a real gate's key epoch: startup read and ``GroupKeyReplaced`` (anvil)."""

from __future__ import annotations

import pytest
import trio

from deploy.gate_tools import HANDOVER_GAS_LIMIT, deploy_key_blob, handover_message
from oracle_node.chain.cursor import MemoryCursorStore
from oracle_node.chain.events import ChainFact
from oracle_node.chain.rpc import HttpTransport, RpcClient
from oracle_node.chain.watcher import FinalityRule, Watcher
from oracle_node.pipeline.messages import GroupKeyChanged
from oracle_node.pipeline.signer_sets import ChainKey, read_chain_key
from oracle_node.types import Epoch, RollupChainId
from testnet.anvil import anvil_chain
from tests.gate.support import NETWORK_ID, Committee, deploy_gate

pytestmark = pytest.mark.system


async def test_epoch_read_and_group_key_replaced_from_a_real_gate() -> None:
    old, new = Committee.make(3, 4, b"gate-old"), Committee.make(3, 4, b"gate-new")
    with anvil_chain(chain_id=31451) as chain:
        gate = await trio.to_thread.run_sync(deploy_gate, chain, old.group_key)
        transport = HttpTransport(chain.rpc_url)
        rpc = RpcClient(transport, name="gate")
        assert await read_chain_key(rpc, gate.address, Epoch(9)) == \
            ChainKey(Epoch(1), old.group_key.to_bytes())
        # no gate at this address: the configured epoch, key unknown
        assert await read_chain_key(rpc, "0x" + "77" * 20, Epoch(9)) == ChainKey(Epoch(9), None)

        def hand_over() -> None:
            blob = deploy_key_blob(gate.submitter, new.group_key.to_bytes())
            signature = old.sign(handover_message(network_id=NETWORK_ID, old_epoch=1,
                                                  new_key=new.group_key.to_bytes()))
            gate.transact(gate.submitter, "handoverGroupKey", blob, signature,
                          gas=HANDOVER_GAS_LIMIT)

        await trio.to_thread.run_sync(hand_over)
        assert await read_chain_key(rpc, gate.address, Epoch(1)) == \
            ChainKey(Epoch(2), new.group_key.to_bytes())
        send, recv = trio.open_memory_channel[ChainFact](64)
        watcher = Watcher(chain=RollupChainId(1), rpc=rpc, contract=gate.address, out=send,
                          cursor_store=MemoryCursorStore(),
                          finality=FinalityRule(confirmations=0))
        await watcher.poll_once()
        send.close()
        changes = [f async for f in recv if isinstance(f, GroupKeyChanged)]
        assert [(c.chain, c.epoch, c.group_key) for c in changes] == \
            [(RollupChainId(1), Epoch(2), new.group_key.to_bytes())]
        await transport.aclose()
