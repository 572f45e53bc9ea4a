"""Ports of the pipeline: what components need from crypto, the rollup core and the chains.

Components depend on these Protocols only; ``oracle_node.app`` (and the in-process simulator)
plug in adapters over ``consensus`` (threshold BLS), the rollup replayer and the chain
submitter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from oracle_node.errors import OracleNodeError
from oracle_node.pipeline.messages import ConfirmationSubmitted, PartialSigned
from oracle_node.types import BlockNumber, Epoch, MemberIndex, PeerIdStr, RollupChainId

T = TypeVar("T")


class ThresholdScheme(Protocol):
    """This node's view of the t-of-n signer set: own share, public shares, group key."""

    @property
    def threshold(self) -> int:
        """t: partials needed for a group signature."""
        ...

    @property
    def members(self) -> Sequence[MemberIndex]:
        """All member indices (1-based), ascending."""
        ...

    @property
    def own_index(self) -> MemberIndex:
        """This node's member index."""
        ...

    def signing_message(self, *, epoch: Epoch, block_number: BlockNumber,
                        final_root: bytes) -> bytes:
        """The canonical 32-byte message (docs/protocol.md §6) for this network."""
        ...

    def sign_own(self, message: bytes) -> bytes:
        """This node's partial signature (48-byte compressed G1) over ``message``."""
        ...

    def verify_partial(self, member: MemberIndex, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is ``member``'s valid partial over ``message`` (never raises)."""
        ...

    def verify_partials_batch(self, message: bytes,
                              partials: Sequence[tuple[MemberIndex, bytes]]) -> bool:
        """True when every (member, partial) over ``message`` is valid, in one batch check.

        Random linear combination: a batch containing an invalid partial is accepted with
        probability <= 2^-64; False says only "some partial is bad" (never raises).
        """
        ...

    def combine(self, partials: Mapping[MemberIndex, bytes]) -> bytes:
        """Lagrange-combine exactly t verified partials into a group signature."""
        ...

    def verify_group(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` verifies under the group public key (never raises)."""
        ...


@dataclass(frozen=True)
class SignerSetView:
    """One signer set as the pipeline uses it for a block.

    ``peers`` maps the set's members' peer ids to their indices in this set; ``can_sign`` is
    false when this node holds no share of the set (it joined later or left).
    """

    scheme: ThresholdScheme
    peers: Mapping[PeerIdStr, MemberIndex]
    can_sign: bool = True


class SchemeBook(Protocol):
    """Which signer set signs which block (signer-set rotation, docs/node.md)."""

    def set_for(self, block_number: BlockNumber) -> SignerSetView | None:
        """The set that signs ``block_number``; None while this node cannot decide it yet."""
        ...

    def is_member_peer(self, peer: PeerIdStr) -> bool:
        """Whether ``peer`` belongs to a set this node currently accepts partials from."""
        ...


class FixedSchemeBook:
    """A :class:`SchemeBook` with one signer set for every block (no rotation)."""

    def __init__(self, scheme: ThresholdScheme, peers: Mapping[PeerIdStr, MemberIndex],
                 *, can_sign: bool = True) -> None:
        """The one set."""
        self._view = SignerSetView(scheme, dict(peers), can_sign)

    def set_for(self, block_number: BlockNumber) -> SignerSetView | None:
        """Always the one set."""
        return self._view

    def is_member_peer(self, peer: PeerIdStr) -> bool:
        """Whether ``peer`` is in the set."""
        return peer in self._view.peers


class WorkerPool(Protocol):
    """Where a component runs CPU-bound synchronous work (replay, re-derivation).

    The node runs it in a capacity-limited worker thread (``ThreadWorkers``) so the event
    loop keeps serving peers; the in-process simulator runs it inline, because a real thread
    lets a ``MockClock`` with autojump skip ahead while the work is still running.
    """

    async def run_sync(self, work: Callable[[], T]) -> T:
        """Run ``work`` to completion and return its result (its exceptions propagate)."""
        ...


class StateReplayer(Protocol):
    """The rollup core's incremental replayer (state transition only, blocks 1, 2, … in order)."""

    @property
    def height(self) -> int:
        """The last block applied (0 at genesis)."""
        ...

    def replay(self, block_number: int, pubdata: bytes) -> bytes:
        """Apply block ``height + 1`` and return the new state root (bytes32).

        Raises ``oracle_node.errors.RollupError`` when the block is invalid for the state;
        the state is then unchanged.
        """
        ...

    def rollback(self, height: int) -> bool:
        """Return to the state after block ``height`` (a revert discarded the blocks above).

        False when that state is no longer held (too deep); the state is then unchanged.
        """
        ...


class ConfirmationSender(Protocol):
    """Submits ``confirmFinalRoot`` on one chain (wraps the chain Submitter)."""

    @property
    def chain(self) -> RollupChainId:
        """The rollup chain id this sender writes to."""
        ...

    async def is_confirmed(self, block_number: BlockNumber, final_root: bytes) -> bool:
        """Whether the contract already confirmed ``final_root`` for the block (``eth_call``).

        Confirming block N confirms every earlier block too (final roots form a hash chain).
        """
        ...

    async def submit(self, *, block_number: BlockNumber, final_root: bytes, epoch: Epoch,
                     signature: bytes) -> ConfirmationSubmitted:
        """Send the confirmation and wait for its receipt; failures are a status, not raised."""
        ...


class PeerMessageError(OracleNodeError):
    """Raised by a :class:`PartialCodec` when peer bytes are not a valid message."""

    def __init__(self, reason: str, detail: str = "") -> None:
        """``reason`` is the stable metrics label (e.g. ``not_canonical``)."""
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class WantPartials:
    """A re-request: the sender lacks the partials of (block, epoch) not in ``have``."""

    member: MemberIndex
    block_number: BlockNumber
    epoch: Epoch
    have: frozenset[int]


class PartialCodec(Protocol):
    """The wire encoding of the exchange's two messages (adapter over ``p2p.wire``)."""

    @property
    def max_bytes(self) -> int:
        """Largest message accepted."""
        ...

    def encode_partial(self, partial: PartialSigned) -> bytes:
        """A ``partial`` message (the sender is the partial's member)."""
        ...

    def encode_want(self, want: WantPartials) -> bytes:
        """A ``want_partials`` request."""
        ...

    def decode(self, data: bytes) -> PartialSigned | WantPartials:
        """Strictly decode; raises :class:`PeerMessageError` (with a reason) otherwise."""
        ...
