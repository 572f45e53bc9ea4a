"""An append-only JSON-lines log of what the sequencer did (the harness reads it)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any


class EventLog:
    """Thread-safe JSONL writer; every line has ``t`` (unix time) and ``event``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def emit(self, event: str, **fields: Any) -> None:
        """Append one event (and count it)."""
        line = json.dumps({"t": time.time(), "event": event, **fields}, sort_keys=True,
                          default=_default)
        with self._lock:
            self.counts[event] = self.counts.get(event, 0) + 1
            if self.path is not None:
                with self.path.open("a") as out:
                    out.write(line + "\n")


def _default(value: object) -> object:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every event in a log written by :class:`EventLog` (a torn last line is skipped)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


class EventTail:
    """Reads the events appended to a log since the previous call (for long runs)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def new_events(self) -> list[dict[str, Any]]:
        """Complete lines appended since the last call (a torn last line waits)."""
        if not self.path.is_file():
            return []
        with self.path.open("rb") as src:
            src.seek(self._offset)
            chunk = src.read()
        end = chunk.rfind(b"\n") + 1
        self._offset += end
        out = []
        for line in chunk[:end].splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                out.append(item)
        return out
