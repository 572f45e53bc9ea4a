"""Revert bookkeeping for the verifier: which chain reverted which blocks, and which rounds.

A chain's main contract can revert unexecuted blocks (``revertBlocks``, event
``BlocksReverted(from_block, to_block)``) and the sequencer then recommits and re-proves them,
possibly with different contents. The verifier must then drop that chain's observations of the
reverted blocks and treat a refusal (or verification) of those blocks as no longer final.

Reverts reach this book two ways: an explicit ``BlocksReverted`` fact, or inferred: the
contracts commit strictly sequentially, so a ``BlockCommitted(N)`` on a chain that already
reported a commit of ``N`` proves that chain reverted ``N..top`` first (``top``: its highest
commit seen; a reorg's ``EventRetracted`` forgets the retracted commit first).

Rounds: every block has a revert round. The first chain to revert a block whose
observations are current starts a new round; chains whose observations were made in an
older round are *stale* until they revert (or report) too. A ``roots_differ`` that involves a
stale chain is not a refusal yet: that chain's revert is still on its way.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Generic, TypeVar

Request = TypeVar("Request")
"""What a verified block consumed (the verifier's ``Request``)."""

MAX_REVERT_SPAN = 1024
"""Blocks one revert may reopen (a ``BlocksReverted`` beyond what was seen is clamped)."""
RETAINED_BLOCKS = 256
"""Verified blocks whose consumed priority requests are kept for a re-verification."""


class RevertBook(Generic[Request]):
    """Per chain: the recent commits seen; per block: revert rounds and reopened state."""

    def __init__(self, *, retained_blocks: int = RETAINED_BLOCKS) -> None:
        """Start with nothing seen."""
        self._commits: dict[int, dict[int, tuple[int, bytes]]] = {}
        self._round: dict[int, int] = {}
        self._seen: dict[int, dict[int, int]] = {}
        self._reopened: set[int] = set()
        self._retained: OrderedDict[int, list[Request]] = OrderedDict()
        self._retained_blocks = retained_blocks

    # -- reverts ---------------------------------------------------------------------------
    def on_commit(self, chain: int, block: int, origin: tuple[int, bytes]) -> range | None:
        """A ``BlockCommitted(block)`` on ``chain``: the range it implies reverted, if any.

        ``origin`` is the log's (L1 height, L1 block hash). Only a second commit of the same
        number from another log implies a revert (a re-delivered log and a first commit that
        arrives out of order do not)."""
        seen = self._commits.setdefault(chain, {})
        implied = None
        if block in seen and seen[block] != origin:
            top = max(seen)
            implied = range(block, min(top, block + MAX_REVERT_SPAN - 1) + 1)
            for gone in implied:
                seen.pop(gone, None)
        seen[block] = origin
        if len(seen) > 2 * MAX_REVERT_SPAN:
            floor = max(seen) - MAX_REVERT_SPAN
            for low in [b for b in seen if b < floor]:
                del seen[low]
        return implied

    def on_explicit(self, chain: int, from_block: int, to_block: int) -> range:
        """A ``BlocksReverted(from, to)`` on ``chain``: the (clamped) range to reopen."""
        if from_block < 1 or to_block < from_block:
            return range(0)
        seen = self._commits.setdefault(chain, {})
        last = min(to_block, max([*seen, from_block]), from_block + MAX_REVERT_SPAN - 1)
        for gone in [b for b in seen if b >= from_block]:
            del seen[gone]
        return range(from_block, last + 1)

    def on_retracted_commit(self, chain: int, block: int) -> None:
        """A reorg retracted ``BlockCommitted(block)`` on ``chain`` (not a revert)."""
        self._commits.get(chain, {}).pop(block, None)

    def revert(self, chain: int, block: int) -> None:
        """``chain`` reverted ``block``: a new round unless ``chain`` was already stale."""
        current = self._round.get(block, 0)
        seen = self._seen.setdefault(block, {})
        if seen.get(chain, current) == current:
            self._round[block] = current + 1
        seen.pop(chain, None)
        self._reopened.add(block)

    def observed(self, chain: int, block: int) -> None:
        """``chain`` committed ``block`` in the block's current round (its proofs follow)."""
        self._seen.setdefault(block, {})[chain] = self._round.get(block, 0)

    def stale(self, chain: int, block: int) -> bool:
        """Whether ``chain``'s observations of ``block`` predate the block's latest revert."""
        current = self._round.get(block, 0)
        return self._seen.get(block, {}).get(chain, current) < current

    def any_stale(self, chains: Iterable[int], block: int) -> bool:
        """Whether any of ``chains`` is stale for ``block``."""
        return any(self.stale(c, block) for c in chains)

    # -- finality of outcomes ---------------------------------------------------------------
    def reopened(self, block: int) -> bool:
        """Whether a revert made the block's recorded outcome (verified/rejected) non-final."""
        return block in self._reopened

    def settle(self, block: int) -> None:
        """The block got a new outcome: it is final again until the next revert."""
        self._reopened.discard(block)

    def forget(self, block: int) -> None:
        """Drop the round state of a verified block (bounded memory)."""
        self._seen.pop(block, None)
        self._round.pop(block, None)

    # -- consumed priority requests -----------------------------------------------------------
    def retain(self, block: int, requests: list[Request]) -> None:
        """Keep the requests ``block`` consumed, for a re-verification after a revert."""
        self._retained[block] = requests
        self._retained.move_to_end(block)
        while len(self._retained) > self._retained_blocks:
            self._retained.popitem(last=False)

    def restore(self, block: int) -> list[Request]:
        """The requests a reverted block had consumed (empty when unknown)."""
        return self._retained.pop(block, [])

    @property
    def reopened_count(self) -> int:
        """Blocks currently reopened (status, tests)."""
        return len(self._reopened)
