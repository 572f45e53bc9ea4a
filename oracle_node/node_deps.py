"""What :func:`oracle_node.app.run_node` wires together: the already-built adapters.

The real node builds them from the config (``oracle_node.node_builder``); the in-process
simulator (``testnet.sim``) builds them from fakes. Both hand a :class:`NodeDeps` to the one
wiring module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from oracle_node.ceremony.rotation import RotationEvent
from oracle_node.chain.cursor import CursorStore
from oracle_node.chain.watcher import FinalityRule
from oracle_node.metrics import NodeMetrics
from oracle_node.pipeline.ports import (
    ConfirmationSender,
    StateReplayer,
    ThresholdScheme,
    WorkerPool,
)
from oracle_node.pipeline.signer_sets import SignerSets
from oracle_node.pipeline.tracker import Tracker
from oracle_node.pipeline.workers import ThreadWorkers
from oracle_node.ports import ChainRpc, HeadFeed, Transport
from oracle_node.store.db import NodeStore
from oracle_node.types import Epoch, MemberIndex, PeerIdStr, RollupChainId

if TYPE_CHECKING:
    from consensus.lock import ClusterLock


@dataclass(frozen=True)
class Timing:
    """Time parameters (seconds of trio time)."""

    rerequest_after: float = 3.0
    request_timeout: float = 5.0
    stagger: float = 12.0
    deadline: float = 300.0
    poll_interval: float = 2.0


@dataclass
class ChainWiring:
    """One connected chain as the node sees it."""

    chain: RollupChainId
    rpc: ChainRpc
    contract: str
    sender: ConfirmationSender
    finality: FinalityRule = field(default_factory=FinalityRule)
    start_block: int = 0
    ws_url: str | None = None
    """``eth_subscribe("newHeads")`` endpoint: new heads wake the watcher at once."""
    heads: HeadFeed | None = None
    """Another new-head source when there is no ``ws_url`` (the simulator's fake chains)."""


@dataclass
class RotationWiring:
    """Signer-set rotation (optional): a ``SignerSetRotation`` and the channel it reports on."""

    component: Any
    """``oracle_node.ceremony.rotation.SignerSetRotation`` (already built, not started)."""
    events: trio.MemoryReceiveChannel[RotationEvent]
    network_id: int
    grace: float = 60.0
    """Seconds old ∪ new stay allowed after the activation (old-set blocks finish)."""


@dataclass
class NodeDeps:
    """Everything :func:`oracle_node.app.run_node` wires together (adapters already built)."""

    cluster: str
    epoch: Epoch
    scheme: ThresholdScheme
    transport: Transport
    peers: Mapping[PeerIdStr, MemberIndex]
    chains: Sequence[ChainWiring]
    da_chain: RollupChainId
    store: NodeStore
    metrics: NodeMetrics
    evidence_dir: Path
    cursor_store: CursorStore
    replayer: StateReplayer | None = None
    genesis_state_root: bytes = b"\x00" * 32
    timing: Timing = field(default_factory=Timing)
    batch_verify: bool = True
    """Batch-verify peer partials pending together (False: one by one, the bench baseline)."""
    tracker: Tracker | None = None
    """Set by :func:`oracle_node.app.run_node` (status and tests read it)."""
    group_key: bytes | None = None
    """The lock's group key (96 B): chains whose gate holds another key are not signed for."""
    can_sign: bool = True
    """False: this node holds no share of the starting set (a member joining by rotation)."""
    governance_chain: RollupChainId | None = None
    """The chain whose ``BlockProven`` heights place blocks in signer sets (rotation)."""
    rotation: RotationWiring | None = None
    sets: SignerSets | None = None
    """Set by :func:`oracle_node.app.run_node`: the signer sets and per-chain key epochs
    (tests read it)."""
    workers: WorkerPool = field(default_factory=ThreadWorkers)
    """Where replay and re-derivation run (the simulator runs them inline)."""


def lock_peers(lock: ClusterLock) -> dict[PeerIdStr, MemberIndex]:
    """A lock's members as {peer id: member index}."""
    return {PeerIdStr(m.name): MemberIndex(m.index) for m in lock.members}


def status_extra(deps: NodeDeps) -> dict[str, Any]:
    """The pipeline's part of ``/status``: the tracker's newest block traces."""
    tracker = deps.tracker
    return {"blocks": [] if tracker is None else tracker.recent()}
