"""Signer-set rotation in the running node: 4 members (t=3) -> 5 (t=4), one replaced."""

from __future__ import annotations

from pathlib import Path

import trio
from trio.testing import MockClock

from oracle_node.types import BlockNumber, RollupChainId
from testnet.sim.cluster import SimConfig, open_cluster
from testnet.sim.rotation import RotationSim

BLOCKS = 24


async def test_blocks_confirmed_across_rotation(tmp_path: Path,
                                                autojump_clock: MockClock) -> None:
    sim = RotationSim(n=4, t=3, joiners=2, work_dir=tmp_path)
    group_key = sim.lock.group_public_key
    async with open_cluster(SimConfig(n=4, t=3, prepare=sim.prepare)) as cluster:
        await cluster.produce(2)
        gov = cluster.chains[cluster.config.da_chain]
        activation = gov.head + 25
        # member 4 leaves; 5 and 6 (index 4 and 5 of the new set) join
        sim.propose(cluster, members=[1, 2, 3, 5, 6], threshold=4, activation_block=activation)
        await cluster.produce(BLOCKS - 2)
        assert await cluster.wait_confirmed(BLOCKS, timeout=240)
        assert gov.head > activation
        # the group key and the key epoch are unchanged on every chain; no useless signature
        for contract in cluster.contracts.values():
            assert contract.group_key == group_key
            assert contract.epoch == 1
            assert contract.rejected == {}, contract.rejected
            assert all(count == 1 for count in contract.confirmations.values())
        stayer, leaver, joiner = cluster.nodes[1], cluster.nodes[4], cluster.nodes[5]
        assert stayer.deps.sets is not None
        sets_by_block = {}
        for block in range(1, BLOCKS + 1):
            view = stayer.deps.sets.set_for(BlockNumber(block))
            assert view is not None
            sets_by_block[block] = view.scheme.threshold
        old = [b for b, t in sets_by_block.items() if t == 3]
        new = [b for b, t in sets_by_block.items() if t == 4]
        assert old, sets_by_block
        assert new, sets_by_block
        assert max(old) < min(new), sets_by_block
        # every node puts each block in the same set
        for node in cluster.nodes.values():
            assert node.deps.sets is not None
            for block, t in sets_by_block.items():
                view = node.deps.sets.set_for(BlockNumber(block))
                assert view is not None
                assert view.scheme.threshold == t
        # aggregates: 3 members (old set) before, 4 (new set) from the activation on
        for agg in stayer.deps.store.aggregates_since(1):
            assert len(agg.members) == sets_by_block[agg.block], agg
        # the removed member stops signing; the new members sign the new set's blocks
        for block in new:
            assert leaver.deps.store.own_signature(block, 1) is None
            assert joiner.deps.store.own_signature(block, 1) is not None
        for block in old:
            assert joiner.deps.store.own_signature(block, 1) is None
        assert leaver.deps.metrics.value(leaver.deps.metrics.drops, reason="not_a_signer") > 0
        await trio.sleep(sim.grace + 5)  # after the grace only the new set is allowed
        assert not stayer.deps.sets.is_member_peer(leaver.peer)
        assert stayer.deps.sets.is_member_peer(joiner.peer)
        assert all(stayer.deps.sets.key_matches(RollupChainId(c)) for c in cluster.chains)
