"""Priority-request serials that verified blocks consumed, per chain (bounded memory)."""

from __future__ import annotations

CONSUMED_WINDOW = 4096
"""Consumed priority serials remembered exactly per chain above the watermark (see
:class:`ConsumedSerials`)."""


class ConsumedSerials:
    """Per chain: which priority-request serials verified blocks already consumed.

    A watermark (every serial below it is consumed) plus the consumed serials above it. The
    contracts' priority queues are FIFO, so the watermark advances and the set stays small;
    out-of-order consumption is still exact up to ``window`` serials per chain, beyond which
    the lowest are folded into the watermark (memory stays bounded whatever the input).
    """

    def __init__(self, window: int = CONSUMED_WINDOW) -> None:
        """Start with nothing consumed."""
        self._window = window
        self._floor: dict[int, int] = {}
        self._above: dict[int, set[int]] = {}

    def add(self, chain: int, serial: int) -> None:
        """Record ``serial`` on ``chain`` as consumed."""
        floor = self._floor.get(chain, 0)
        if serial < floor:
            return
        above = self._above.setdefault(chain, set())
        above.add(serial)
        while floor in above:
            above.remove(floor)
            floor += 1
        if len(above) > self._window:
            for low in sorted(above)[: len(above) - self._window]:
                above.remove(low)
                floor = low + 1
        self._floor[chain] = floor

    def consumed(self, chain: int, serial: int) -> bool:
        """Whether a verified block consumed ``serial`` on ``chain``."""
        return serial < self._floor.get(chain, 0) or serial in self._above.get(chain, ())

    def __len__(self) -> int:
        """Serials remembered individually (above the watermarks)."""
        return sum(len(s) for s in self._above.values())
