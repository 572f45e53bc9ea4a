"""Signer: this node's partial signature over a verified root, slashing-protected.

The signature is computed first (BLS is deterministic, so the same message always gives the
same bytes), then checked-and-recorded atomically in SQLite (``own_signatures``, one row per
(block, epoch), ``synchronous=FULL``), and only then released. A second, different root for
the same (block, epoch) is refused, counted and logged; the stored signature is re-released
for the same root (idempotent after a restart).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from oracle_node.errors import SlashingProtectionError
from oracle_node.metrics import NodeMetrics
from oracle_node.pipeline.messages import PartialSigned, RootVerified, StepRecorded
from oracle_node.pipeline.ports import FixedSchemeBook, SchemeBook, ThresholdScheme
from oracle_node.store.db import NodeStore

if TYPE_CHECKING:
    from trio import TaskStatus

log = logging.getLogger("oracle_node.signer")


class Signer:
    """Consumes ``RootVerified``, emits this node's ``PartialSigned``."""

    def __init__(self, *, verified: trio.MemoryReceiveChannel[RootVerified],
                 signed: trio.MemorySendChannel[PartialSigned],
                 steps: trio.MemorySendChannel[StepRecorded],
                 scheme: ThresholdScheme, store: NodeStore, metrics: NodeMetrics,
                 book: SchemeBook | None = None) -> None:
        """Wire the signer; ``book`` picks the signer set per block (default: ``scheme``)."""
        self._in = verified
        self._out = signed
        self._steps = steps
        self._book: SchemeBook = book or FixedSchemeBook(scheme, {})
        self._store = store
        self._metrics = metrics

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Sign every verified root until the input channel closes."""
        task_status.started()
        async with self._in, self._out:
            async for fact in self._in:
                await self.sign(fact)

    async def sign(self, fact: RootVerified) -> PartialSigned | None:
        """Sign one verified root; None (counted) when slashing protection refuses.

        Also None (counted as ``oracle_drops_total{reason="not_a_signer"}``) when this node
        holds no share of the set that signs the block (it left, or joins later).
        """
        view = self._book.set_for(fact.block_number)
        if view is None or not view.can_sign:
            self._metrics.inc(self._metrics.drops, reason="not_a_signer")
            log.info("signature_skipped block=%d reason=not_a_signer", fact.block_number)
            await self._steps.send(StepRecorded(fact.block_number, "signed", False,
                                                trio.current_time(), "not_a_signer"))
            return None
        scheme = view.scheme
        message = scheme.signing_message(epoch=fact.epoch, block_number=fact.block_number,
                                               final_root=fact.final_root)
        signature = scheme.sign_own(message)
        try:
            released = self._store.record_own_signature(fact.block_number, fact.epoch,
                                                        fact.final_root, signature)
        except SlashingProtectionError as err:
            self._metrics.inc(self._metrics.slashing_refusals)
            log.error("signature_refused block=%d epoch=%d reason=slashing_protection detail=%r",
                      fact.block_number, fact.epoch, str(err))
            await self._steps.send(StepRecorded(fact.block_number, "signed", False,
                                                trio.current_time(), "slashing_protection"))
            return None
        self._metrics.inc(self._metrics.signed)
        out = PartialSigned(fact.block_number, fact.final_root, fact.epoch,
                            scheme.own_index, released)
        await self._steps.send(StepRecorded(fact.block_number, "signed", True,
                                            trio.current_time()))
        await self._out.send(out)
        return out
