"""Tracker: per block, each step's outcome and latency; one failure reason per missed deadline.

The clock of a block starts at its ``observed`` step (the last chain's ``BlockProven``) or,
if that never happens, at its first recorded step. Latencies of later steps are measured
from there and observed in ``oracle_step_latency_seconds``. A block is done when every chain
reported ``confirmed``. A block not done ``deadline`` seconds after its start gets exactly
one reason, in pipeline order: the first failed step's reason (``verified:roots_differ``,
``signed:slashing_protection``, …) or the first missing step (``not_observed``,
``not_verified``, ``not_signed``, ``not_aggregated``, ``not_confirmed``). A ``reverted``
step (a chain reverted the block) restarts the block's trace.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from oracle_node.metrics import NodeMetrics
from oracle_node.pipeline.messages import StepRecorded
from oracle_node.types import RollupChainId

if TYPE_CHECKING:
    from trio import TaskStatus

log = logging.getLogger("oracle_node.tracker")

STEPS = ("observed", "verified", "signed", "aggregated")
TRACE_STEPS = (*STEPS, "submitted", "confirmed")
"""Steps in a ``/status`` block trace (``submitted``/``confirmed``: first / all chains)."""
STATUS_BLOCKS = 32
"""Blocks in the ``/status`` trace list."""


@dataclass
class BlockTrace:
    """What happened to one block on this node."""

    block_number: int
    started: float
    steps: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    confirmed: dict[int, float] = field(default_factory=dict)
    submitted: dict[int, float] = field(default_factory=dict)
    reverts: int = 0
    """How many chain reverts restarted this trace (docs/node.md "Reverted blocks")."""
    outcome: str = "pending"
    """``pending``, ``done`` or ``failed:<reason>``."""

    def latency(self, step: str) -> float | None:
        """Seconds from the start to ``step`` (None when it has not happened)."""
        at = self.steps.get(step)
        return None if at is None else at - self.started


class Tracker:
    """Consumes every component's ``StepRecorded``; exposes per-block traces."""

    def __init__(self, *, steps: trio.MemoryReceiveChannel[StepRecorded],
                 chains: Sequence[RollupChainId], metrics: NodeMetrics,
                 deadline: float = 300.0, keep: int = 1024) -> None:
        """Wire the tracker; ``deadline`` is seconds from a block's start to all confirmed."""
        self._in = steps
        self._chains = tuple(chains)
        self._metrics = metrics
        self._deadline = deadline
        self._keep = keep
        self.traces: dict[int, BlockTrace] = {}

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Record steps and enforce deadlines until the input channel closes."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._deadline_loop)
            task_status.started()
            async with self._in:
                async for step in self._in:
                    self.record(step)
            nursery.cancel_scope.cancel()

    def record(self, s: StepRecorded) -> None:
        """Apply one step record."""
        block = int(s.block_number)
        trace = self.traces.get(block)
        if trace is None:
            trace = self.traces[block] = BlockTrace(block, s.at)
            self._prune()
        if s.step == "reverted":
            # A chain reverted the block: what happened to the old contents no longer counts.
            self.traces[block] = BlockTrace(block, s.at, reverts=trace.reverts + 1)
            return
        if s.step == "observed" and "observed" not in trace.steps:
            trace.started = s.at
        if not s.ok:
            trace.failures.setdefault(s.step, s.reason or "failed")
            return
        if s.step == "confirmed" and s.chain is not None:
            trace.confirmed.setdefault(int(s.chain), s.at)
            if len(trace.confirmed) == len(self._chains) and "confirmed" not in trace.steps:
                trace.steps["confirmed"] = s.at
                self._observe(trace, "confirmed")
                if trace.outcome == "pending":
                    trace.outcome = "done"
            return
        if s.step == "submitted" and s.chain is not None:
            trace.submitted.setdefault(int(s.chain), s.at)
            return
        if s.step not in trace.steps:
            trace.steps[s.step] = s.at
            self._observe(trace, s.step)

    def trace_summary(self, trace: BlockTrace) -> dict[str, Any]:
        """One block as JSON: each step's outcome and latency (seconds from the start).

        ``status`` per step is ``ok``, ``failed`` (with ``reason``) or ``pending``;
        ``submitted`` is this node's first confirmation transaction on any chain and
        ``confirmed`` the moment every chain held the confirmation (``chains`` has each).
        ``failure`` is the block's one reason once it missed the deadline, ``waiting_for``
        what it waits for while pending.
        """
        steps: dict[str, dict[str, Any]] = {}
        for step in TRACE_STEPS:
            at = trace.steps.get(step)
            if step == "submitted" and trace.submitted:
                at = min(trace.submitted.values())
            entry: dict[str, Any] = {"status": "pending", "latency": None, "reason": None}
            if step in trace.failures:
                entry.update(status="failed", reason=trace.failures[step])
            elif at is not None:
                entry.update(status="ok", latency=round(max(0.0, at - trace.started), 6))
            steps[step] = entry
        steps["confirmed"]["chains"] = {str(c): round(max(0.0, at - trace.started), 6)
                                        for c, at in sorted(trace.confirmed.items())}
        pending = trace.outcome == "pending"
        return {"block": trace.block_number, "outcome": trace.outcome.split(":", 1)[0],
                "failure": trace.outcome.split(":", 1)[1] if ":" in trace.outcome else None,
                "waiting_for": (self.failure_reason(trace).removeprefix("not_") if pending
                                else None),
                "steps": steps}

    def recent(self, limit: int = STATUS_BLOCKS) -> list[dict[str, Any]]:
        """Summaries of the ``limit`` newest blocks, newest first (for ``/status``)."""
        return [self.trace_summary(self.traces[b])
                for b in sorted(self.traces, reverse=True)[:limit]]

    def _observe(self, trace: BlockTrace, step: str) -> None:
        latency = trace.latency(step)
        if latency is not None and step != "observed":
            self._metrics.observe(self._metrics.step_latency, max(0.0, latency), step=step)

    def failure_reason(self, trace: BlockTrace) -> str:
        """The one reason a block is not done (pipeline order)."""
        for step in (*STEPS, "submitted", "confirmed"):
            if step in trace.failures:
                return f"{step}:{trace.failures[step]}"
            if step in STEPS and step not in trace.steps:
                return f"not_{step}"
        return "not_confirmed"

    def check_deadlines(self, now: float) -> list[tuple[int, str]]:
        """Mark every overdue pending block failed; returns the newly failed (block, reason)."""
        failed = []
        for block, trace in sorted(self.traces.items()):
            if trace.outcome != "pending" or now - trace.started < self._deadline:
                continue
            reason = self.failure_reason(trace)
            trace.outcome = f"failed:{reason}"
            self._metrics.inc(self._metrics.block_failures, reason=reason)
            missing = sorted(set(self._chains) - set(trace.confirmed))
            log.warning("block_missed_deadline block=%d reason=%s unconfirmed_chains=%s",
                        block, reason, missing)
            failed.append((block, reason))
        return failed

    async def _deadline_loop(self) -> None:
        while True:
            await trio.sleep(max(1.0, self._deadline / 10))
            self.check_deadlines(trio.current_time())

    def _prune(self) -> None:
        if len(self.traces) > self._keep:
            for block in sorted(self.traces)[: len(self.traces) - self._keep]:
                del self.traces[block]
