"""In-process cluster: honest, crashed, byzantine and lying-chain runs under MockClock."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from trio.testing import MockClock

from oracle_node.errors import SlashingProtectionError
from testnet.sim.cluster import SimCluster, SimConfig, open_cluster
from testnet.sim.sequencer import Lie

BLOCKS = 3


def assert_confirmed_once(cluster: SimCluster, blocks: int) -> None:
    """Every block confirmed on every chain; no block confirmed twice; only true roots."""
    for chain, contract in cluster.contracts.items():
        assert contract.last_confirmed >= blocks, (chain, contract.last_confirmed)
        assert all(count == 1 for count in contract.confirmations.values()), \
            contract.confirmations
        assert "InvalidSignature" not in contract.rejected
        assert "MalformedSignature" not in contract.rejected
        assert "RootMismatch" not in contract.rejected
    for node in cluster.honest_running():
        for block in range(1, blocks + 1):
            agg = [a for a in node.deps.store.aggregates_since(block) if a.block == block]
            if agg:
                assert agg[0].final_root == cluster.sequencer.results[block].final_root


@pytest.mark.parametrize("n", [4, 7, 16])
async def test_every_root_confirmed_on_every_chain_once(
        n: int, autojump_clock: MockClock) -> None:
    async with open_cluster(SimConfig(n=n, seed=n)) as cluster:
        await cluster.produce(BLOCKS)
        assert await cluster.wait_confirmed(BLOCKS, timeout=120)
        assert_confirmed_once(cluster, BLOCKS)
        for node in cluster.honest_running():
            m = node.deps.metrics
            assert m.value(m.rederivations) >= BLOCKS
            assert m.value(m.signed) == BLOCKS
            assert node.deps.store.own_signature_count() == BLOCKS


@pytest.mark.parametrize("n", [4, 7])
async def test_f_crashed_nodes(n: int, autojump_clock: MockClock) -> None:
    f = (n - 1) // 3
    crashed = frozenset(range(1, f + 1))
    async with open_cluster(SimConfig(n=n, crashed=crashed, seed=20 + n)) as cluster:
        await cluster.produce(BLOCKS)
        assert await cluster.wait_confirmed(BLOCKS, timeout=200)
        assert_confirmed_once(cluster, BLOCKS)


async def test_byzantine_equivocation_and_invalid_partials(
        autojump_clock: MockClock) -> None:
    config = SimConfig(n=7, byzantine={3: "equivocate", 5: "invalid"}, seed=3)
    async with open_cluster(config) as cluster:
        await cluster.produce(BLOCKS)
        assert await cluster.wait_confirmed(BLOCKS, timeout=200)
        await trio.sleep(5)  # let the last block's misbehaviour arrive everywhere
        assert_confirmed_once(cluster, BLOCKS)
        for node in cluster.honest_running():
            m = node.deps.metrics
            assert m.value(m.partials_invalid, reason="bad_signature") >= 1
            evidence = node.deps.store.evidence()
            assert {member for _, _, member, _ in evidence} == {3}
            assert m.value(m.equivocations) == len(evidence)
            doc = await trio.Path(evidence[0][3]).read_text()
            assert '"kind": "equivocation"' in doc
            assert '"member": 3' in doc


async def test_byzantine_wrong_root_is_never_confirmed(
        autojump_clock: MockClock) -> None:
    config = SimConfig(n=4, byzantine={2: "wrong_root"}, seed=4)
    async with open_cluster(config) as cluster:
        await cluster.produce(BLOCKS)
        assert await cluster.wait_confirmed(BLOCKS, timeout=200)
        assert_confirmed_once(cluster, BLOCKS)
        for node in cluster.honest_running():
            for agg in node.deps.store.aggregates_since(1):
                assert 2 not in agg.members


async def test_garbage_peer_messages_are_counted(autojump_clock: MockClock) -> None:
    config = SimConfig(n=4, byzantine={4: "garbage"}, seed=5)
    async with open_cluster(config) as cluster:
        await cluster.produce(2)
        assert await cluster.wait_confirmed(2, timeout=200)
        await trio.sleep(3)
        for node in cluster.honest_running():
            m = node.deps.metrics
            rejected = sum(m.value(m.partials_invalid, reason=r)
                           for r in ("malformed_cbor", "not_canonical", "too_large",
                                     "wrong_field_type", "invalid_field_value", "missing_field"))
            assert rejected >= 2 * 3


async def test_lying_chain_is_refused(autojump_clock: MockClock) -> None:
    config = SimConfig(n=4, lie=Lie(block=2, chain=2, about_chain=1), seed=6)
    async with open_cluster(config) as cluster:
        await cluster.produce(3)
        assert await cluster.wait_confirmed(1, timeout=60)
        await trio.sleep(60)
        for contract in cluster.contracts.values():
            assert contract.last_confirmed == 1
        for node in cluster.honest_running():
            m = node.deps.metrics
            assert m.value(m.mismatches, reason="roots_differ") == 1
            assert node.deps.store.rejected(2) == "roots_differ"
            assert node.deps.store.own_signature(2, 1) is None


async def test_restart_mid_block_never_signs_differently(
        tmp_path: Path, autojump_clock: MockClock) -> None:
    config = SimConfig(n=4, data_dir=tmp_path, seed=8)
    async with open_cluster(config) as cluster:
        await cluster.produce(1)
        assert await cluster.wait_confirmed(1, timeout=60)
        cluster.sequencer.next_block()
        node = cluster.nodes[2]
        with trio.fail_after(30):
            while node.deps.store.own_signature(2, 1) is None:
                await trio.sleep(0.01)
        before = node.deps.store.own_signature(2, 1)
        await cluster.stop_node(2)
        await trio.sleep(1)
        await cluster.start_node(2)
        await cluster.produce(1)
        assert await cluster.wait_confirmed(3, timeout=120)
        node = cluster.nodes[2]
        with trio.fail_after(60):
            while node.deps.store.own_signature(3, 1) is None:
                await trio.sleep(0.1)
        assert node.deps.store.own_signature(2, 1) == before
        assert node.deps.store.own_signature_count() == 3
        assert before is not None
        with pytest.raises(SlashingProtectionError):
            node.deps.store.record_own_signature(2, 1, b"\x01" * 32, before[1])
        assert_confirmed_once(cluster, 3)


async def test_lossy_gossip_recovers_by_rerequest(autojump_clock: MockClock) -> None:
    async with open_cluster(SimConfig(n=4, drop_rate=0.6, seed=9)) as cluster:
        await cluster.produce(BLOCKS)
        assert await cluster.wait_confirmed(BLOCKS, timeout=200)
        assert_confirmed_once(cluster, BLOCKS)
        rerequests = sum(n.deps.metrics.value(n.deps.metrics.rerequests)
                         for n in cluster.honest_running())
        assert rerequests > 0


async def test_lying_block_is_confirmed_after_revert_and_honest_recommit(
        autojump_clock: MockClock) -> None:
    config = SimConfig(n=4, lie=Lie(block=2, chain=2, about_chain=1), seed=9)
    async with open_cluster(config) as cluster:
        await cluster.produce(3)
        assert await cluster.wait_confirmed(1, timeout=60)
        await trio.sleep(20)
        for node in cluster.honest_running():
            assert node.deps.store.rejected(2) == "roots_differ"
        assert all(c.last_confirmed == 1 for c in cluster.contracts.values())
        cluster.sequencer.revert_and_recommit(2)  # BlocksReverted(2, 3), then honest 2 and 3
        assert await cluster.wait_confirmed(3, timeout=120)
        assert_confirmed_once(cluster, 3)
        # t nodes confirm; a node may still be re-verifying after a late revert of chain 1
        with trio.move_on_after(60):
            while any(n.deps.replayer is None or n.deps.replayer.height < 3
                      for n in cluster.honest_running()):
                await trio.sleep(0.25)
        for node in cluster.honest_running():
            m, store = node.deps.metrics, node.deps.store
            assert m.value(m.mismatches, reason="roots_differ") == 1  # no spurious refusal
            assert m.value(m.slashing_refusals) == 0
            for block in (2, 3):
                honest = cluster.sequencer.results[block]
                assert store.verified(block) == (honest.final_root,
                                                 honest.new_state_root_bytes)
                signed = store.own_signature(block, 1)
                assert signed is not None
                assert signed[0] == honest.final_root
            replayer = node.deps.replayer
            assert replayer is not None
            assert replayer.height == 3  # the lying DA data never stayed applied
