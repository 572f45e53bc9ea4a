"""A benchmark report: rows of named figures, printed as a rich table and written as JSON."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class BenchRow:
    """One measured figure: what was measured, under which parameters, and its value."""

    name: str
    value: float
    unit: str
    params: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class BenchReport:
    """Collects rows for one suite run and renders them."""

    suite: str
    rows: list[BenchRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def add(self, name: str, value: float, unit: str, *, target: str | None = None,
            extra: dict[str, Any] | None = None, **params: Any) -> BenchRow:
        """Record one figure and return it."""
        row = BenchRow(name, float(value), unit, dict(params), target, dict(extra or {}))
        self.rows.append(row)
        return row

    def note(self, text: str) -> None:
        """Attach a free-text note (a caveat, a decision) to the report."""
        self.notes.append(text)

    def to_json(self) -> dict[str, Any]:
        """The JSON document written by ``--out``."""
        return {
            "suite": self.suite,
            "started_unix": self.started,
            "duration_s": time.time() - self.started,
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
            },
            "rows": [row.__dict__ for row in self.rows],
            "notes": self.notes,
        }

    def write(self, path: Path) -> None:
        """Write the JSON document to ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")

    def print(self, console: Console | None = None) -> None:
        """Print the rows as a table."""
        table = Table(title=f"bench {self.suite}")
        for col in ("measure", "params", "value", "unit", "target"):
            table.add_column(col)
        for row in self.rows:
            params = ", ".join(f"{k}={v}" for k, v in row.params.items())
            table.add_row(row.name, params, f"{row.value:.6g}", row.unit, row.target or "")
        out = console or Console()
        out.print(table)
        for text in self.notes:
            out.print(f"note: {text}")


def time_call(fn: Callable[[], object], *, repeat: int = 5, warmup: int = 1) -> list[float]:
    """Run ``fn`` ``warmup + repeat`` times and return the ``repeat`` durations in seconds."""
    for _ in range(warmup):
        fn()
    durations = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        durations.append(time.perf_counter() - start)
    return durations


def median_ms(durations: Sequence[float]) -> float:
    """Median of durations in seconds, as milliseconds."""
    return statistics.median(durations) * 1000.0


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty sequence.

    The one rule every figure uses (bench suites and the harness summary): the smallest
    value with at least ``pct`` percent of the values at or below it.
    """
    if not values:
        raise ValueError("percentile of an empty sequence")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100.0 * len(ordered))))
    return ordered[rank - 1]
