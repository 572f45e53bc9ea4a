"""Verifier driven through its channels: re-derivation and every rejection reason."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from oracle_node.app import RollupReplayer, genesis_state_root
from oracle_node.metrics import NodeMetrics
from oracle_node.pipeline.messages import (
    BlockCommitted,
    PriorityRequestQueued,
    RootProven,
    RootRejected,
    RootVerified,
    StepRecorded,
)
from oracle_node.pipeline.verifier import ChainFact, Verifier
from oracle_node.pipeline.workers import ThreadWorkers
from oracle_node.rollup import hashes
from oracle_node.rollup.block import BlockResult, build_block
from oracle_node.rollup.pubdata import Deposit, Op, Transfer
from oracle_node.rollup.state import RollupParams, State
from oracle_node.store.db import NodeStore
from oracle_node.types import BlockNumber, Epoch, RollupChainId

CHAINS = (RollupChainId(1), RollupChainId(2))
PARAMS = RollupParams(depth=8, capacity=4)
OWNER = b"\x11" * 20


def blocks(count: int) -> list[BlockResult]:
    """Real blocks: a deposit on chain 1 each, then a transfer."""
    state, prev, out = State(PARAMS), hashes.ZERO_HASH, []
    for number in range(1, count + 1):
        ops: list[Op] = [Deposit(1, 1, 1, 100, OWNER, number - 1)]
        if number > 1:
            ops.append(Transfer(1, 1, 1, 1, number - 2))
        result = build_block(state, ops, number, prev, CHAINS)
        prev = result.sync_hash
        out.append(result)
    return out


def facts_for(result: BlockResult) -> list[ChainFact]:
    """Priority request, commit on the DA chain and proofs on both chains."""
    n = BlockNumber(result.block_number)
    facts: list[ChainFact] = [PriorityRequestQueued(RollupChainId(1), result.block_number - 1,
                                                    "deposit", OWNER, 1, 100, 0, 1)]
    facts.append(BlockCommitted(RollupChainId(1), n, result.commitment, result.sync_hash,
                                result.new_state_root_bytes, result.pubdata,
                                result.ops_hashes, 1, b"\x00" * 32))
    facts += [RootProven(c, n, result.final_root, result.new_state_root_bytes, 2, b"\x01" * 32)
              for c in CHAINS]
    return facts


async def run_verifier(store: NodeStore, metrics: NodeMetrics, facts: list[ChainFact],
                       keep: list[Verifier] | None = None
                       ) -> tuple[list[RootVerified], list[RootRejected]]:
    """Feed ``facts`` and collect the outputs (``keep`` receives the verifier)."""
    facts_tx, facts_rx = trio.open_memory_channel[ChainFact](64)
    ver_tx, ver_rx = trio.open_memory_channel[RootVerified](64)
    steps_tx, _steps_rx = trio.open_memory_channel[StepRecorded](256)
    rej_tx, rej_rx = trio.open_memory_channel[RootRejected](64)
    verifier = Verifier(facts=facts_rx, verified=ver_tx, steps=steps_tx, chains=CHAINS,
                        da_chain=RollupChainId(1), epoch=Epoch(1), store=store,
                        metrics=metrics, genesis_state_root=genesis_state_root(PARAMS),
                        replayer=RollupReplayer(CHAINS, PARAMS), rejections=rej_tx,
                        workers=ThreadWorkers())
    if keep is not None:
        keep.append(verifier)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(verifier.run)
        async with facts_tx:
            for fact in facts:
                await facts_tx.send(fact)
    verified = [v async for v in ver_rx]
    rej_tx.close()
    return verified, [r async for r in rej_rx]


async def test_verifies_blocks_in_order(store: NodeStore, metrics: NodeMetrics,
                                        autojump_clock: MockClock) -> None:
    b1, b2 = blocks(2)
    # block 2's facts first: it must wait for block 1
    verified, rejected = await run_verifier(store, metrics, facts_for(b2) + facts_for(b1))
    assert [(v.block_number, v.final_root) for v in verified] == [
        (1, b1.final_root), (2, b2.final_root)]
    assert rejected == []
    assert store.verified(2) == (b2.final_root, b2.new_state_root_bytes)


def _tamper(result: BlockResult, kind: str) -> list[ChainFact]:
    facts: list[Any] = list(facts_for(result))
    if kind == "roots_differ":
        facts[-1] = replace(facts[-1], final_root=b"\x99" * 32)
    elif kind == "final_root_mismatch":
        facts[-2:] = [replace(f, final_root=b"\x98" * 32) for f in facts[-2:]]
    elif kind == "commitment_mismatch":
        facts[1] = replace(facts[1], commitment=b"\x97" * 32)
    elif kind == "sync_hash_mismatch":
        facts[1] = replace(facts[1], sync_hash=b"\x96" * 32)
    elif kind == "ops_hash_mismatch":
        facts[1] = replace(facts[1], ops_hashes=(b"\x95" * 32, b"\x94" * 32))
    elif kind == "priority_mismatch":
        facts[0] = replace(facts[0], amount=101)
    elif kind == "state_root_mismatch":
        facts[1] = replace(facts[1], new_state_root=b"\x01" * 32)
    elif kind == "pubdata_invalid":
        facts[1] = replace(facts[1], pubdata=b"\x09" * len(result.pubdata))
    return facts


@pytest.mark.parametrize("reason", ["roots_differ", "final_root_mismatch", "commitment_mismatch",
                                    "sync_hash_mismatch", "ops_hash_mismatch",
                                    "priority_mismatch", "state_root_mismatch",
                                    "pubdata_invalid"])
async def test_mismatch_is_one_counted_rejection(reason: str, store: NodeStore,
                                                 metrics: NodeMetrics,
                                                 autojump_clock: MockClock) -> None:
    (b1,) = blocks(1)
    facts = _tamper(b1, reason)
    verified, rejected = await run_verifier(store, metrics, facts + facts)  # sent twice
    assert verified == []
    assert [r.reason for r in rejected] == [reason]
    assert metrics.value(metrics.mismatches, reason=reason) == 1
    assert store.rejected(1) == reason


async def test_consumed_priority_requests_are_pruned(store: NodeStore, metrics: NodeMetrics,
                                                     autojump_clock: MockClock) -> None:
    results = blocks(6)
    facts = [f for r in results for f in facts_for(r)]
    # a request queued but not (yet) executed by any block stays held
    pending = PriorityRequestQueued(RollupChainId(2), 0, "deposit", OWNER, 1, 5, 0, 3)
    # a rescan after a restart re-reports requests the blocks consumed: not held again
    rescan = [f for f in facts if isinstance(f, PriorityRequestQueued)]
    keep: list[Verifier] = []
    verified, rejected = await run_verifier(store, metrics, [*facts, pending, *rescan], keep)
    assert [v.block_number for v in verified] == [1, 2, 3, 4, 5, 6]
    assert rejected == []
    (verifier,) = keep
    assert verifier.queued_requests == 1  # only chain 2's unexecuted request
    assert verifier.consumed_serials.consumed(1, 5)
    assert not verifier.consumed_serials.consumed(2, 0)
    assert len(verifier.consumed_serials) == 0  # in-order serials fold into the watermark


def test_consumed_serials_stay_bounded() -> None:
    from oracle_node.pipeline.verifier import ConsumedSerials

    consumed = ConsumedSerials(window=8)
    for serial in range(1, 100, 2):  # every other serial: nothing folds in order
        consumed.add(1, serial)
    assert len(consumed) == 8
    assert consumed.consumed(1, 99)
    assert consumed.consumed(1, 3)  # folded below the watermark
    assert not consumed.consumed(1, 100)
    assert not consumed.consumed(2, 1)
