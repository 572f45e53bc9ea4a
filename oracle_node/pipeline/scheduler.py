"""Confirmation submitter scheduler (one per chain): who sends ``confirmFinalRoot``, and when.

The primary for (chain, block) is member ``1 + keccak(abi.encode(block, chain)) mod n``;
every other member is a backup at position ``(own - primary) mod n`` and waits
``position * stagger`` seconds first. Before sending, a member skips when the chain already
confirmed the block (a ``RootConfirmed`` fact for it or a later block, since confirming block
N confirms every earlier one, or the contract's ``isConfirmed`` read by an ``eth_call``).
The contract rejects duplicates cheaply, so a race costs one failed
transaction at worst. The actual transaction goes through the chain Submitter
(:class:`~oracle_node.pipeline.ports.ConfirmationSender`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from oracle_node.metrics import NodeMetrics
from oracle_node.pipeline.messages import (
    AggregateReady,
    ConfirmationSubmitted,
    RootConfirmed,
    StepRecorded,
)
from oracle_node.pipeline.ports import ConfirmationSender
from oracle_node.store.db import NodeStore
from oracle_node.types import BlockNumber, MemberIndex, RollupChainId

if TYPE_CHECKING:
    from trio import TaskStatus

log = logging.getLogger("oracle_node.scheduler")

STEP_WINDOW = 256
"""At most this many blocks get a ``confirmed`` step when one confirmation covers many."""


def primary_member(block_number: int, chain: int, n: int) -> MemberIndex:
    """The deterministic primary submitter (1-based member index) for (chain, block)."""
    digest = keccak(abi_encode(["uint256", "uint256"], [block_number, chain]))
    return MemberIndex(1 + int.from_bytes(digest, "big") % n)


def backup_position(own: int, primary: int, n: int) -> int:
    """0 for the primary, i for the i-th backup."""
    return (own - primary) % n


class ConfirmationScheduler:
    """Consumes ``AggregateReady`` and this chain's ``RootConfirmed``; submits when due."""

    def __init__(self, *, aggregates: trio.MemoryReceiveChannel[AggregateReady],
                 confirmations: trio.MemoryReceiveChannel[RootConfirmed],
                 steps: trio.MemorySendChannel[StepRecorded], sender: ConfirmationSender,
                 own_index: MemberIndex, n: int, store: NodeStore, metrics: NodeMetrics,
                 stagger: float = 12.0, retries: int = 2,
                 submitted: trio.MemorySendChannel[ConfirmationSubmitted] | None = None,
                 rank: Callable[[int], tuple[int, int]] | None = None,
                 is_current: Callable[[AggregateReady], Awaitable[bool]] | None = None,
                 ) -> None:
        """Wire one chain's scheduler; ``n`` is the signer-set size.

        ``rank(block)`` -> (own index, n) of the signer set of the block (rotation); without
        it ``own_index``/``n`` hold for every block. ``is_current(agg)``: whether the chain's
        gate still holds the aggregate's key epoch, asked before every attempt (a handover
        may land while a backup waits its turn; sending then only buys an
        ``InvalidSignature`` revert).
        """
        self._aggregates = aggregates
        self._confirmations = confirmations
        self._steps = steps
        self._sender = sender
        self._chain: RollupChainId = sender.chain
        self._own = int(own_index)
        self._n = n
        self._rank = rank
        self._store = store
        self._metrics = metrics
        self._stagger = stagger
        self._retries = retries
        self._submitted = submitted
        self._last_confirmed = 0
        self._advanced = trio.Event()
        self._in_flight: set[int] = set()
        self._is_current = is_current

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Schedule every aggregate until the aggregate channel closes."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._confirmation_loop)
            task_status.started()
            async with self._aggregates:
                async for agg in self._aggregates:
                    if int(agg.block_number) in self._in_flight:
                        continue
                    self._in_flight.add(int(agg.block_number))
                    nursery.start_soon(self._schedule, agg)
            nursery.cancel_scope.cancel()

    async def _confirmation_loop(self) -> None:
        async with self._confirmations:
            async for fact in self._confirmations:
                if fact.chain != self._chain:
                    continue
                await self._mark_confirmed(int(fact.block_number))

    async def _mark_confirmed(self, block: int) -> None:
        """The chain confirmed ``block`` and with it every earlier block."""
        if block <= self._last_confirmed:
            return
        previous, self._last_confirmed = self._last_confirmed, block
        self._advanced.set()
        self._advanced = trio.Event()
        self._metrics.set(self._metrics.last_confirmed, block, chain=self._chain)
        for number in range(max(previous + 1, block - STEP_WINDOW), block + 1):
            await self._steps.send(StepRecorded(BlockNumber(number), "confirmed", True,
                                                trio.current_time(), chain=self._chain))

    async def _wait_confirmed(self, block: int, timeout: float) -> bool:
        with trio.move_on_after(timeout):
            while block > self._last_confirmed:
                await self._advanced.wait()
        return block <= self._last_confirmed

    async def _schedule(self, agg: AggregateReady) -> None:
        block = int(agg.block_number)
        try:
            own, n = self._rank(block) if self._rank is not None else (self._own, self._n)
            primary = primary_member(block, self._chain, n)
            position = backup_position(own, primary, n)
            for attempt in range(self._retries + 1):
                delay = (position + attempt * n) * self._stagger
                if await self._wait_confirmed(block, delay):
                    await self._record(ConfirmationSubmitted(
                        self._chain, agg.block_number, "already_confirmed",
                        detail="RootConfirmed seen"), position)
                    return
                outcome = await self._attempt(agg, position)
                if outcome.status != "failed":
                    return
            log.warning("confirmation_gave_up chain=%d block=%d", self._chain, block)
        finally:
            self._in_flight.discard(block)

    async def _preflight(self, agg: AggregateReady) -> tuple[bool, bool]:
        """(confirmed already, still current): the two reads run at once (one round trip)."""
        answers = {"confirmed": False, "current": True}

        async def confirmed() -> None:
            answers["confirmed"] = await self._sender.is_confirmed(agg.block_number,
                                                                    agg.final_root)

        async def current() -> None:
            if self._is_current is not None:
                answers["current"] = await self._is_current(agg)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(confirmed)
            nursery.start_soon(current)
        return answers["confirmed"], answers["current"]

    async def _attempt(self, agg: AggregateReady, position: int) -> ConfirmationSubmitted:
        block = int(agg.block_number)
        confirmed, current = await self._preflight(agg)
        if confirmed:
            await self._mark_confirmed(block)
            return await self._record(ConfirmationSubmitted(
                self._chain, agg.block_number, "already_confirmed",
                detail="contract reports confirmed"), position)
        if not current:
            return await self._record(ConfirmationSubmitted(
                self._chain, agg.block_number, "superseded",
                detail=f"the gate no longer holds epoch {agg.epoch} of this key"), position)
        outcome = await self._sender.submit(block_number=agg.block_number,
                                            final_root=agg.final_root, epoch=agg.epoch,
                                            signature=agg.signature)
        ok = outcome.status != "failed"
        await self._steps.send(StepRecorded(agg.block_number, "submitted", ok,
                                            trio.current_time(),
                                            "" if ok else "submission_failed",
                                            chain=self._chain))
        if outcome.status in ("confirmed", "already_confirmed"):
            await self._mark_confirmed(block)
        return await self._record(outcome, position)

    async def _record(self, outcome: ConfirmationSubmitted,
                      position: int) -> ConfirmationSubmitted:
        self._store.record_submission(self._chain, int(outcome.block_number), outcome.status,
                                      outcome.tx_hash, outcome.gas_used, outcome.detail)
        self._metrics.inc(self._metrics.submissions, chain=self._chain, status=outcome.status)
        if outcome.gas_used:
            self._metrics.inc(self._metrics.gas_used, outcome.gas_used, chain=self._chain)
        log.info("confirmation chain=%d block=%d status=%s position=%d detail=%r", self._chain,
                 outcome.block_number, outcome.status, position, outcome.detail)
        if self._submitted is not None:
            await self._submitted.send(outcome)
        return outcome
