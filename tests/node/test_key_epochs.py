"""Key epochs per chain: a group-key handover in the in-process cluster (MockClock)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from trio.testing import MockClock

from consensus import threshold
from deploy.gate_tools import handover_message
from oracle_node.types import RollupChainId
from testnet.sim.cluster import SimCluster, SimConfig, open_cluster
from testnet.sim.contract import HandoverRefused


def _hand_over(cluster: SimCluster, seed: bytes) -> tuple[object, list[threshold.KeyShare],
                                                          dict[int, object]]:
    """The current group signs a handover to a fresh t-of-n key on every chain."""
    cfg = cluster.config
    group, shares, public = threshold.trusted_dealer_split_for_tests(cfg.threshold, cfg.n, seed)
    for contract in cluster.contracts.values():
        message = handover_message(network_id=cfg.network_id, old_epoch=contract.epoch,
                                   new_key=group.to_bytes())
        parts = [threshold.partial_sign(s, message) for s in cluster.shares[:cfg.threshold]]
        contract.handover(group, threshold.combine(parts, cfg.threshold))
    return group, shares, {p.index: p.public_key for p in public}


def _mismatches(cluster: SimCluster) -> float:
    return sum(n.deps.metrics.value(n.deps.metrics.drops, reason="group_key_mismatch")
               for n in cluster.honest_running())


async def test_handover_old_key_refuses_new_key_confirms(autojump_clock: MockClock) -> None:
    async with open_cluster(SimConfig(n=4)) as cluster:
        await cluster.produce(2)
        assert await cluster.wait_confirmed(2, timeout=120)
        for node in cluster.honest_running():  # the gate's epoch was read at startup
            assert node.deps.sets is not None
            assert all(node.deps.sets.key_matches(RollupChainId(c)) for c in cluster.chains)
        group, shares, public = _hand_over(cluster, b"second key")
        assert {c.epoch for c in cluster.contracts.values()} == {2}
        await cluster.produce(2)
        await trio.sleep(30)
        # the old-key cluster followed GroupKeyReplaced and refuses, counted per block & chain
        assert not cluster.confirmed_everywhere(3)
        assert _mismatches(cluster) >= 2 * len(cluster.chains)
        for node in cluster.honest_running():
            assert node.deps.sets is not None
            key = node.deps.sets.chain_key(RollupChainId(1))
            assert key is not None
            assert key.epoch == 2
            assert not node.deps.sets.key_matches(RollupChainId(1))
        for contract in cluster.contracts.values():
            assert "InvalidSignature" not in contract.rejected  # nothing useless was sent
        # the cluster holding the new key's shares reads epoch 2 at startup and confirms
        await cluster.replace_keys(group, shares, public)
        assert await cluster.wait_confirmed(4, timeout=120)
        await cluster.produce(1)
        assert await cluster.wait_confirmed(5, timeout=120)
        assert _mismatches(cluster) >= 2 * len(cluster.chains)  # same metrics objects
        for contract in cluster.contracts.values():
            assert contract.rejected == {}, contract.rejected
            assert all(count == 1 for count in contract.confirmations.values())
        # a replayed handover is refused like the gate does
        contract = cluster.contracts[1]
        with pytest.raises(HandoverRefused, match="HandoverReplayed"):
            _hand_over(cluster, b"second key")
        assert contract.epoch == 2


async def test_new_key_cluster_waits_for_handover_then_signs(autojump_clock: MockClock) -> None:
    async with open_cluster(SimConfig(n=4)) as cluster:
        # the successor cluster starts before the handover lands: its key is not the gates'
        group, old_shares = await _successor_after_block_1(cluster)
        await cluster.produce(2)
        await trio.sleep(20)
        assert not cluster.confirmed_everywhere(2)
        assert _mismatches(cluster) >= 2 * len(cluster.chains)
        # the old group hands over; the running nodes follow GroupKeyReplaced and sign the
        # blocks they verified meanwhile with epoch 2, without a restart
        cluster.shares = old_shares
        _hand_over_to(cluster, group)
        assert await cluster.wait_confirmed(3, timeout=120)
        for contract in cluster.contracts.values():
            assert contract.epoch == 2
            assert contract.rejected == {}, contract.rejected


async def test_chain_switching_after_the_cluster_signed_gets_the_stored_aggregate(
        autojump_clock: MockClock) -> None:
    # chain 1 switches first and the cluster signs blocks 2-3 with epoch 2 for it; when chain
    # 2 switches later those blocks never aggregate again: the stored signatures must reach it
    async with open_cluster(SimConfig(n=4)) as cluster:
        group, cluster.shares = await _successor_after_block_1(cluster)
        _hand_over_to(cluster, group, chains=[1])
        await cluster.produce(2)
        with trio.move_on_after(120):
            while cluster.contracts[1].last_confirmed < 3:
                await trio.sleep(0.25)
        assert cluster.contracts[1].last_confirmed == 3
        assert cluster.contracts[2].last_confirmed == 1
        _hand_over_to(cluster, group, chains=[2])
        assert await cluster.wait_confirmed(3, timeout=120)
        for contract in cluster.contracts.values():
            assert contract.epoch == 2
            assert contract.rejected == {}, contract.rejected


async def _successor_after_block_1(cluster: SimCluster) -> tuple[object, list[Any]]:
    """Confirm block 1 with the old key, then switch every node to a successor key.

    Returns (the successor's group key, the old shares: what signs the handover)."""
    await cluster.produce(1)
    assert await cluster.wait_confirmed(1, timeout=120)
    old_shares = list(cluster.shares)
    cfg = cluster.config
    group, shares, public = threshold.trusted_dealer_split_for_tests(
        cfg.threshold, cfg.n, b"successor")
    await cluster.replace_keys(group, shares, {p.index: p.public_key for p in public})
    return group, old_shares


def _hand_over_to(cluster: SimCluster, group: object, chains: list[int] | None = None) -> None:
    cfg = cluster.config
    for chain, contract in cluster.contracts.items():
        if chains is not None and chain not in chains:
            continue
        message = handover_message(network_id=cfg.network_id, old_epoch=contract.epoch,
                                   new_key=group.to_bytes())  # type: ignore[attr-defined]
        parts = [threshold.partial_sign(s, message) for s in cluster.shares[:cfg.threshold]]
        contract.handover(group, threshold.combine(parts, cfg.threshold))  # type: ignore[arg-type]
