"""Reverted blocks: a refusal is not final after a revert; slashing protection still holds."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import trio
from trio.testing import MockClock

from oracle_node.app import RollupReplayer, genesis_state_root
from oracle_node.keys import ConsensusScheme
from oracle_node.metrics import NodeMetrics
from oracle_node.pipeline.messages import (
    BlockCommitted,
    BlocksReverted,
    PartialSigned,
    PriorityRequestQueued,
    RootProven,
    RootRejected,
    RootVerified,
    StepRecorded,
)
from oracle_node.pipeline.signer import Signer
from oracle_node.pipeline.verifier import ChainFact, Verifier
from oracle_node.pipeline.verifier.reverts import RevertBook
from oracle_node.pipeline.workers import InlineWorkers
from oracle_node.rollup import hashes
from oracle_node.rollup.block import BlockResult, build_block
from oracle_node.rollup.pubdata import Deposit
from oracle_node.rollup.state import RollupParams, State
from oracle_node.store.db import NodeStore
from oracle_node.types import BlockNumber, Epoch, RollupChainId

CHAINS = (RollupChainId(1), RollupChainId(2))
DA = RollupChainId(1)
PARAMS = RollupParams(depth=8, capacity=4)
OWNER = b"\x11" * 20


def block_one(amount: int, serial: int) -> BlockResult:
    """A real block 1: one deposit of ``amount`` on chain 1 (priority serial ``serial``)."""
    return build_block(State(PARAMS), [Deposit(1, 1, 1, amount, OWNER, serial)], 1,
                       hashes.ZERO_HASH, CHAINS)


def facts(result: BlockResult, serial: int, at: int, *, chains: tuple[int, ...] = (1, 2),
          proven_root: dict[int, bytes] | None = None) -> list[ChainFact]:
    """The request, commits (L1 height ``at``) and proofs of block 1 on ``chains``."""
    amount = 200 if serial else 100
    out: list[ChainFact] = [PriorityRequestQueued(DA, serial, "deposit", OWNER, 1, amount, 0,
                                                  at)]
    n = BlockNumber(result.block_number)
    origin = at.to_bytes(32, "big")
    out += [BlockCommitted(RollupChainId(c), n, result.commitment, result.sync_hash,
                           result.new_state_root_bytes, result.pubdata, result.ops_hashes,
                           at, origin) for c in chains]
    roots = proven_root or {}
    out += [RootProven(RollupChainId(c), n, roots.get(c, result.final_root),
                       result.new_state_root_bytes, at + 1, origin) for c in chains]
    return out


async def run(store: NodeStore, metrics: NodeMetrics, feed: list[ChainFact]
              ) -> tuple[list[RootVerified], list[RootRejected], Verifier]:
    """Feed ``feed`` to a verifier with a real replayer; collect its outputs."""
    facts_tx, facts_rx = trio.open_memory_channel[ChainFact](64)
    ver_tx, ver_rx = trio.open_memory_channel[RootVerified](64)
    steps_tx, _steps_rx = trio.open_memory_channel[StepRecorded](256)
    rej_tx, rej_rx = trio.open_memory_channel[RootRejected](64)
    verifier = Verifier(facts=facts_rx, verified=ver_tx, steps=steps_tx, chains=CHAINS,
                        da_chain=DA, epoch=Epoch(1), store=store, metrics=metrics,
                        genesis_state_root=genesis_state_root(PARAMS),
                        replayer=RollupReplayer(CHAINS, PARAMS), rejections=rej_tx,
                        workers=InlineWorkers())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(verifier.run)
        async with facts_tx:
            for fact in feed:
                await facts_tx.send(fact)
    verified = [v async for v in ver_rx]
    rej_tx.close()
    return verified, [r async for r in rej_rx], verifier


async def sign(scheme: ConsensusScheme, store: NodeStore, metrics: NodeMetrics,
               fact: RootVerified) -> PartialSigned | None:
    """One signing attempt through the real signer."""
    out_tx, _out_rx = trio.open_memory_channel[PartialSigned](8)
    steps_tx, _steps_rx = trio.open_memory_channel[StepRecorded](8)
    _in_tx, in_rx = trio.open_memory_channel[RootVerified](1)
    signer = Signer(verified=in_rx, signed=out_tx, steps=steps_tx, scheme=scheme,
                    store=store, metrics=metrics)
    return await signer.sign(fact)


async def test_refused_block_is_verified_after_explicit_revert(
        store: NodeStore, metrics: NodeMetrics, schemes: list[ConsensusScheme],
        autojump_clock: MockClock) -> None:
    honest = block_one(100, 0)
    lie = facts(honest, 0, 10, proven_root={2: b"\x99" * 32})
    recommit = facts(honest, 0, 20, chains=(2,))[1:]
    feed = [*lie, BlocksReverted(RollupChainId(2), BlockNumber(1), BlockNumber(1), 15),
            *recommit]
    verified, rejected, verifier = await run(store, metrics, feed)
    assert [r.reason for r in rejected] == ["roots_differ"]
    assert [(v.block_number, v.final_root) for v in verified] == [(1, honest.final_root)]
    assert store.verified(1) == (honest.final_root, honest.new_state_root_bytes)
    assert verifier.reverts.reopened_count == 0
    # the node never signed the lying root, so signing the honest one is allowed
    assert await sign(schemes[0], store, metrics, verified[0]) is not None


async def test_recommit_implies_revert_and_replayer_rolls_back(
        store: NodeStore, metrics: NodeMetrics, autojump_clock: MockClock) -> None:
    honest = block_one(100, 0)
    # the lie: a state root the DA data does not give (replayed, then rolled back)
    lying = facts(honest, 0, 10)
    lying[1:3] = [replace(f, new_state_root=b"\x01" * 32) for f in lying[1:3]
                  if isinstance(f, BlockCommitted)]
    feed = [*lying, *facts(honest, 0, 20)[1:]]  # no BlocksReverted: the recommit implies it
    verified, rejected, _ = await run(store, metrics, feed)
    assert [r.reason for r in rejected] == ["state_root_mismatch"]
    assert [v.final_root for v in verified] == [honest.final_root]
    assert metrics.value(metrics.mismatches, reason="state_root_mismatch") == 1


async def test_stale_proof_of_an_unreverted_chain_is_not_a_refusal(
        store: NodeStore, metrics: NodeMetrics, autojump_clock: MockClock) -> None:
    honest = block_one(100, 0)
    first = facts(honest, 0, 10, chains=(1,))  # chain 2 has not proved yet
    lie2 = facts(honest, 0, 11, chains=(2,), proven_root={2: b"\x99" * 32})[1:]
    # chain 1 reverts and re-proves while chain 2 still holds its lying proof: wait, then
    # chain 2's own revert and honest proof complete the block
    feed = [*first[:2], *lie2[:1], *facts(honest, 0, 20, chains=(1,))[1:],
            lie2[1], *facts(honest, 0, 21, chains=(2,))[1:]]
    verified, rejected, _ = await run(store, metrics, feed)
    assert rejected == []
    assert [v.final_root for v in verified] == [honest.final_root]


async def test_signed_root_is_never_replaced_by_a_reproved_one(
        store: NodeStore, metrics: NodeMetrics, schemes: list[ConsensusScheme],
        autojump_clock: MockClock) -> None:
    root_a, root_b = block_one(100, 0), block_one(200, 1)
    verified, rejected, _ = await run(store, metrics, facts(root_a, 0, 10))
    assert [v.final_root for v in verified] == [root_a.final_root]
    assert await sign(schemes[0], store, metrics, verified[0]) is not None
    # block 1 is reverted everywhere and re-proved with other contents (root B)
    feed: list[Any] = [*facts(root_a, 0, 10),
                       *[BlocksReverted(c, BlockNumber(1), BlockNumber(1), 15) for c in CHAINS],
                       *facts(root_b, 1, 20)]
    again, rejected, _ = await run(store, metrics, feed)
    assert rejected == []
    assert [v.final_root for v in again] == [root_b.final_root]  # the derivation is honest
    assert await sign(schemes[0], store, metrics, again[0]) is None  # but never signed
    assert metrics.value(metrics.slashing_refusals) == 1
    assert store.own_signature(1, 1) is not None
    assert store.own_signature(1, 1)[0] == root_a.final_root  # type: ignore[index]


def test_revert_book_rounds_and_inference() -> None:
    book = RevertBook[int]()
    assert book.on_commit(1, 1, (10, b"a")) is None
    assert book.on_commit(1, 2, (11, b"b")) is None
    assert book.on_commit(1, 2, (11, b"b")) is None  # the same log again: no revert
    assert book.on_commit(1, 1, (20, b"c")) == range(1, 3)
    assert book.on_explicit(2, 5, 10**9) == range(5, 6)  # clamped to what was seen
    assert book.on_explicit(2, 0, 3) == range(0)
    book.observed(1, 7)
    book.observed(2, 7)
    book.revert(1, 7)
    assert book.stale(2, 7)
    assert not book.stale(1, 7)
    assert book.reopened(7)
    book.revert(2, 7)  # chain 2 catches up: no new round
    assert not book.any_stale((1, 2), 7)
    book.settle(7)
    assert not book.reopened(7)


def test_replayer_rolls_back_within_its_window() -> None:
    state, prev, built = State(PARAMS), hashes.ZERO_HASH, []
    for number in (1, 2, 3):
        result = build_block(state, [Deposit(1, number, 1, 10, bytes([number]) * 20,
                                             number - 1)], number, prev, CHAINS)
        prev = result.sync_hash
        built.append(result)
    replayer = RollupReplayer(CHAINS, PARAMS, keep=3)  # states after 1, 2, 3
    roots = [replayer.replay(r.block_number, r.pubdata) for r in built]
    assert roots == [r.new_state_root_bytes for r in built]
    assert not replayer.rollback(0)  # older than the kept states: unchanged
    assert replayer.height == 3
    assert replayer.rollback(1)
    assert replayer.height == 1
    assert replayer.replay(2, built[1].pubdata) == built[1].new_state_root_bytes
