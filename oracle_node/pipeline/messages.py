"""Facts exchanged between pipeline components (frozen; keyed by chain and block).

Each message is named as something that happened. Components import this module and
``oracle_node.ports`` only, never each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from oracle_node.types import BlockNumber, Epoch, MemberIndex, RollupChainId


@dataclass(frozen=True)
class RootProven:
    """A chain's main contract proved a block (``BlockProven``), final under the finality rule."""

    chain: RollupChainId
    block_number: BlockNumber
    final_root: bytes
    new_state_root: bytes
    l1_block_number: int
    l1_block_hash: bytes


@dataclass(frozen=True)
class BlockCommitted:
    """A chain's main contract committed a block (``BlockCommitted``): the DA data for replay."""

    chain: RollupChainId
    block_number: BlockNumber
    commitment: bytes
    sync_hash: bytes
    new_state_root: bytes
    pubdata: bytes
    ops_hashes: tuple[bytes, ...]
    l1_block_number: int
    l1_block_hash: bytes


@dataclass(frozen=True)
class PriorityRequestQueued:
    """A deposit or full-exit request entered a chain's priority queue."""

    chain: RollupChainId
    serial_id: int
    kind: str  # "deposit" | "full_exit"
    owner: bytes
    token: int
    amount: int
    account_id: int
    l1_block_number: int


@dataclass(frozen=True)
class RootConfirmed:
    """A chain accepted an aggregated signature (``FinalRootConfirmed``)."""

    chain: RollupChainId
    block_number: BlockNumber
    final_root: bytes
    epoch: Epoch
    submitter: bytes
    l1_block_number: int


@dataclass(frozen=True)
class BlocksReverted:
    """A chain's main contract reverted unexecuted blocks (``BlocksReverted(from, to)``)."""

    chain: RollupChainId
    from_block: BlockNumber
    to_block: BlockNumber
    l1_block_number: int


@dataclass(frozen=True)
class EventRetracted:
    """A reorg removed an event the watcher had already emitted (``kind`` names it)."""

    chain: RollupChainId
    kind: str
    block_number: BlockNumber
    l1_block_hash: bytes


@dataclass(frozen=True)
class RootVerified:
    """The node re-derived ``final_root`` for the block and every chain proved the same root."""

    block_number: BlockNumber
    final_root: bytes
    epoch: Epoch


@dataclass(frozen=True)
class RootRejected:
    """The node refused to sign a block; ``reason`` is one stable code (counted in metrics)."""

    block_number: BlockNumber
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class PartialSigned:
    """A member's partial signature over the canonical message (own or received)."""

    block_number: BlockNumber
    final_root: bytes
    epoch: Epoch
    member: MemberIndex
    signature: bytes


@dataclass(frozen=True)
class AggregateReady:
    """t verified partials combined into a group signature that verifies under the group key."""

    block_number: BlockNumber
    final_root: bytes
    epoch: Epoch
    signature: bytes
    members: tuple[MemberIndex, ...]


@dataclass(frozen=True)
class ConfirmationSubmitted:
    """A submitter's outcome for one (chain, block): ``status`` is a stable code."""

    chain: RollupChainId
    block_number: BlockNumber
    status: str  # "confirmed" | "already_confirmed" | "failed" | "skipped"
    tx_hash: bytes | None = None
    gas_used: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class StepRecorded:
    """A component finished (or failed) one step for a block; the tracker's only input.

    ``step`` is one of ``observed``, ``verified``, ``signed``, ``aggregated``, ``submitted``,
    ``confirmed``; ``reason`` is a stable failure code when ``ok`` is false. ``at`` is trio time.
    """

    block_number: BlockNumber
    step: str
    ok: bool
    at: float
    reason: str = ""
    chain: RollupChainId | None = None


@dataclass(frozen=True)
class EquivocationDetected:
    """A member signed two different valid partials for one (block, epoch); evidence on disk."""

    block_number: BlockNumber
    epoch: Epoch
    member: MemberIndex
    evidence_path: str


@dataclass(frozen=True)
class GroupKeyChanged:
    """A chain's gate installed a new group key (``GroupKeyReplaced``): it signs from ``epoch``.

    ``group_key`` is the 96-byte compressed G2 key; the epoch is per chain (docs/gate.md).
    """

    chain: RollupChainId
    epoch: Epoch
    group_key: bytes
    l1_block_number: int
