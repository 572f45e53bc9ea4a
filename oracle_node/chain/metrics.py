"""The small metrics sink the chain components count into (prometheus wiring comes later).

A sink is any callable ``sink(name, reason, amount=1)``; ``name`` is a stable counter name
(``rpc_error``, ``watcher_drop``, …) and ``reason`` one stable label value.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol


class MetricsSink(Protocol):
    """Counts one event: ``sink("watcher_drop", "malformed_log")``."""

    def __call__(self, name: str, reason: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name`` with label ``reason``."""
        ...


class CountingMetrics:
    """An in-memory sink; ``counts[(name, reason)]`` is the running total."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def __call__(self, name: str, reason: str, amount: int = 1) -> None:
        """Add ``amount`` to ``(name, reason)``."""
        self.counts[(name, reason)] += amount

    def total(self, name: str) -> int:
        """Sum of counter ``name`` over all reasons."""
        return sum(v for (n, _r), v in self.counts.items() if n == name)


def discard_metrics(name: str, reason: str, amount: int = 1) -> None:
    """A sink that drops everything (the default when no sink is wired)."""
