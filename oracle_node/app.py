"""The one wiring module: opens every bounded channel and starts the components in a nursery.

::

    watcher (per chain) ─facts─▶ router ─▶ verifier ─RootVerified─▶ signer ─PartialSigned─▶
    exchange (gossip ⇄ peers) ─verified partials─▶ aggregator ─AggregateReady─▶
    scheduler (per chain, + that chain's RootConfirmed from the router) ─▶ chain sender
    every component ─StepRecorded─▶ tracker

:func:`run_node` takes already-built adapters (:class:`NodeDeps`), so the real node
(``oracle-node run`` builds them from the config in :func:`run_from_config`) and the
in-process simulator (``testnet.sim``, fakes) share exactly this wiring.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from oracle_node.ceremony.rotation import (
    ReshareCompleted,
    RotationEvent,
    RotationFailed,
    SignerSetActivated,
)
from oracle_node.chain.cursor import CursorStore
from oracle_node.chain.events import ChainFact as WatchedFact
from oracle_node.chain.watcher import FinalityRule, Watcher
from oracle_node.chain.ws import NewHeadsSubscriber
from oracle_node.config import NodeConfig
from oracle_node.errors import ConfigError, RollupError
from oracle_node.keys import scheme_from_lock
from oracle_node.metrics import NodeMetrics
from oracle_node.p2p import wire
from oracle_node.p2p.errors import WireError
from oracle_node.pipeline.aggregator import Aggregator
from oracle_node.pipeline.exchange import PartialExchange, partials_topic
from oracle_node.pipeline.messages import (
    AggregateReady,
    EquivocationDetected,
    GroupKeyChanged,
    PartialSigned,
    RootConfirmed,
    RootVerified,
    StepRecorded,
)
from oracle_node.pipeline.ports import (
    ConfirmationSender,
    PeerMessageError,
    StateReplayer,
    ThresholdScheme,
    WantPartials,
    WorkerPool,
)
from oracle_node.pipeline.scheduler import ConfirmationScheduler
from oracle_node.pipeline.senders import SubmitterConfirmationSender
from oracle_node.pipeline.signer import Signer
from oracle_node.pipeline.signer_sets import KeyPlanner, SignerSets
from oracle_node.pipeline.tracker import Tracker
from oracle_node.pipeline.verifier import ChainFact, Verifier
from oracle_node.pipeline.workers import ThreadWorkers
from oracle_node.ports import ChainRpc, Transport
from oracle_node.rollup.block import Replayer
from oracle_node.rollup.hashes import root_to_bytes
from oracle_node.rollup.state import RollupParams, State
from oracle_node.store.db import NodeStore
from oracle_node.types import BlockNumber, Epoch, MemberIndex, PeerIdStr, RollupChainId

if TYPE_CHECKING:
    from trio import TaskStatus

    from consensus.lock import ClusterLock

log = logging.getLogger("oracle_node.app")

CHANNEL_CAPACITY = 256
"""Every internal channel's buffer (backpressure beyond it; measured peak in the n=16 sim
is below 40 items)."""
RESUME_WINDOW = 256
"""On start, re-feed at most this many recent unfinished blocks into the pipeline."""
WAKE_CAPACITY = 16
"""New-head wake-ups buffered per chain (more are dropped and counted; the watcher coalesces)."""


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
    """Everything :func:`run_node` wires together (adapters already built)."""

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
    """Set by :func:`run_node` (status and tests read it)."""
    group_key: bytes | None = None
    """The lock's group key (96 B): chains whose gate holds another key are not signed for."""
    can_sign: bool = True
    """False: this node holds no share of the starting set (a member joining by rotation)."""
    governance_chain: RollupChainId | None = None
    """The chain whose ``BlockProven`` heights place blocks in signer sets (rotation)."""
    rotation: RotationWiring | None = None
    sets: SignerSets | None = None
    """Set by :func:`run_node`: the signer sets and per-chain key epochs (tests read it)."""
    workers: WorkerPool = field(default_factory=ThreadWorkers)
    """Where replay and re-derivation run (the simulator runs them inline)."""


async def run_node(deps: NodeDeps, *,
                   task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Run one node until cancelled."""
    cap = CHANNEL_CAPACITY
    chain_ids = [c.chain for c in deps.chains]
    facts_tx, facts_rx = trio.open_memory_channel[WatchedFact](cap)
    verifier_tx, verifier_rx = trio.open_memory_channel[ChainFact](cap)
    verified_tx, verified_rx = trio.open_memory_channel[RootVerified](cap)
    planned_tx, planned_rx = trio.open_memory_channel[RootVerified](cap)
    own_tx, own_rx = trio.open_memory_channel[PartialSigned](cap)
    partials_tx, partials_rx = trio.open_memory_channel[PartialSigned](cap)
    steps_tx, steps_rx = trio.open_memory_channel[StepRecorded](cap * 4)
    evidence_tx, evidence_rx = trio.open_memory_channel[EquivocationDetected](cap)
    agg_channels = {c: trio.open_memory_channel[AggregateReady](cap) for c in chain_ids}
    sched_channels = {c: trio.open_memory_channel[AggregateReady](cap) for c in chain_ids}
    confirm_channels = {c: trio.open_memory_channel[RootConfirmed](cap) for c in chain_ids}

    tracker = Tracker(steps=steps_rx, chains=chain_ids, metrics=deps.metrics,
                      deadline=deps.timing.deadline)
    deps.tracker = tracker
    sets = SignerSets(scheme=deps.scheme, peers=deps.peers, can_sign=deps.can_sign,
                      group_key=deps.group_key)
    deps.sets = sets
    planner = KeyPlanner(sets=sets, chains={c.chain: (c.rpc, c.contract) for c in deps.chains},
                         steps=steps_tx.clone(), metrics=deps.metrics,
                         governance=deps.governance_chain, default_epoch=deps.epoch,
                         store=deps.store, replan=verified_tx.clone(), window=RESUME_WINDOW)
    await planner.load()
    verifier = Verifier(facts=verifier_rx, verified=verified_tx.clone(), steps=steps_tx.clone(),
                        chains=chain_ids, da_chain=deps.da_chain, epoch=deps.epoch,
                        store=deps.store, metrics=deps.metrics,
                        genesis_state_root=deps.genesis_state_root, replayer=deps.replayer,
                        workers=deps.workers)
    signer = Signer(verified=planned_rx, signed=own_tx, steps=steps_tx.clone(),
                    scheme=deps.scheme, store=deps.store, metrics=deps.metrics, book=sets)
    exchange = PartialExchange(own=own_rx, verified=partials_tx, steps=steps_tx.clone(),
                               transport=deps.transport, codec=WireCodec(),
                               scheme=deps.scheme, peers=deps.peers,
                               store=deps.store, metrics=deps.metrics,
                               topic=partials_topic(deps.cluster),
                               evidence_dir=deps.evidence_dir, evidence=evidence_tx,
                               rerequest_after=deps.timing.rerequest_after,
                               request_timeout=deps.timing.request_timeout,
                               batch_verify=deps.batch_verify, book=sets)
    aggregator = Aggregator(partials=partials_rx,
                            outputs=[tx for tx, _ in agg_channels.values()],
                            steps=steps_tx.clone(), scheme=deps.scheme, store=deps.store,
                            metrics=deps.metrics, book=sets)
    n = len(deps.scheme.members)
    schedulers = [ConfirmationScheduler(
        aggregates=sched_channels[c.chain][1], confirmations=confirm_channels[c.chain][1],
        steps=steps_tx.clone(), sender=c.sender, own_index=deps.scheme.own_index, n=n,
        store=deps.store, metrics=deps.metrics, stagger=deps.timing.stagger, rank=sets.rank)
        for c in deps.chains]

    async def route() -> None:
        """Fan chain facts out: all to the verifier, confirmations to their scheduler too."""
        async with facts_rx:
            async for fact in facts_rx:
                if not await planner.observe(fact) or isinstance(fact, GroupKeyChanged):
                    continue
                if isinstance(fact, RootConfirmed) and fact.chain in confirm_channels:
                    await confirm_channels[fact.chain][0].send(fact)
                await verifier_tx.send(fact)

    async def drain_evidence() -> None:
        async for item in evidence_rx:
            log.warning("evidence member=%d block=%d path=%s", item.member, item.block_number,
                        item.evidence_path)

    async def follow_rotation(rotation: RotationWiring) -> None:
        async with trio.open_nursery() as inner, rotation.events:
            async for event in rotation.events:
                if isinstance(event, ReshareCompleted):
                    planner.reshare_completed(
                        event.activation_block,
                        scheme_from_lock(event.lock, event.share, rotation.network_id),
                        lock_peers(event.lock), can_sign=event.share is not None,
                        transport=deps.transport)
                elif isinstance(event, SignerSetActivated):
                    inner.start_soon(functools.partial(
                        planner.set_activated, event.block, member=event.share is not None,
                        transport=deps.transport, grace=rotation.grace))
                elif isinstance(event, RotationFailed):
                    log.error("rotation_failed proposal=%d reason=%r", event.proposal_id,
                              event.reason)

    async with trio.open_nursery() as nursery:
        await nursery.start(tracker.run)
        await nursery.start(verifier.run)
        await nursery.start(signer.run)
        await nursery.start(exchange.run)
        await nursery.start(aggregator.run)
        for scheduler in schedulers:
            await nursery.start(scheduler.run)
        nursery.start_soon(route)
        nursery.start_soon(planner.plan, verified_rx, planned_tx)
        for c in chain_ids:
            nursery.start_soon(planner.filter_aggregates, c, agg_channels[c][1],
                               sched_channels[c][0])
        if deps.rotation is not None:
            nursery.start_soon(follow_rotation, deps.rotation)
            await nursery.start(deps.rotation.component.run)
        nursery.start_soon(drain_evidence)
        for wiring in deps.chains:
            if isinstance(wiring.sender, SubmitterConfirmationSender):
                await wiring.sender.start()
        await resume(deps, verified_tx.clone(), [tx for tx, _ in agg_channels.values()])
        for wiring in deps.chains:
            sink = deps.metrics.chain_sink(int(wiring.chain))
            wake_rx = None
            if wiring.ws_url is not None:
                wake_tx, wake_rx = trio.open_memory_channel[int](WAKE_CAPACITY)
                nursery.start_soon(NewHeadsSubscriber(url=wiring.ws_url, wake=wake_tx,
                                                      metrics=sink).run)
            watcher = Watcher(chain=wiring.chain, rpc=wiring.rpc, contract=wiring.contract,
                              out=facts_tx.clone(), cursor_store=deps.cursor_store,
                              finality=wiring.finality, start_block=wiring.start_block,
                              poll_interval=deps.timing.poll_interval, metrics=sink,
                              wake=wake_rx)
            nursery.start_soon(watcher.run)
        task_status.started()


async def resume(deps: NodeDeps, verified: trio.MemorySendChannel[RootVerified],
                 aggregates: Sequence[trio.MemorySendChannel[AggregateReady]]) -> None:
    """Re-feed unfinished work after a restart (nothing is re-derived or signed differently).

    Verified blocks without a group signature go back to the signer, which re-releases the
    stored signature (slashing protection returns the recorded bytes) so the exchange gossips
    and re-requests again; stored group signatures not yet confirmed on every chain go back to
    the schedulers, which skip chains that already confirmed.
    """
    last = deps.store.last_verified_block()
    confirmed = deps.store.last_confirmed()
    floor = min([confirmed.get(int(c.chain), 0) for c in deps.chains], default=0)
    aggregated = {a.block for a in deps.store.aggregates_since(floor + 1)}
    for block in range(max(floor + 1, last - RESUME_WINDOW + 1), last + 1):
        record = deps.store.verified(block)
        if record is None or block in aggregated:
            continue
        await verified.send(RootVerified(BlockNumber(block), record[0], deps.epoch))
    for agg in deps.store.aggregates_since(floor + 1)[-RESUME_WINDOW:]:
        ready = AggregateReady(BlockNumber(agg.block), agg.final_root, Epoch(agg.epoch),
                               agg.signature, tuple(MemberIndex(m) for m in agg.members))
        for channel in aggregates:
            await channel.send(ready)
    await verified.aclose()


class WireCodec:
    """``PartialCodec`` over ``oracle_node.p2p.wire`` (canonical CBOR, docs/protocol.md §7)."""

    max_bytes = wire.MAX_MESSAGE_BYTES

    def encode_partial(self, partial: PartialSigned) -> bytes:
        """A ``partial`` message."""
        return wire.encode(wire.PartialMessage.from_fact(partial))

    def encode_want(self, want: WantPartials) -> bytes:
        """A ``want_partials`` request with the ``have`` bitmap."""
        return wire.encode(wire.WantPartials(want.member, want.block_number, want.epoch,
                                             wire.members_bitmap(sorted(want.have))))

    def decode(self, data: bytes) -> PartialSigned | WantPartials:
        """Strict decoding; the wire error's reason becomes the rejection reason."""
        try:
            msg = wire.decode(data)
        except WireError as err:
            raise PeerMessageError(wire.rejection_reason(err), str(err)) from err
        if isinstance(msg, wire.PartialMessage):
            return msg.to_fact()
        if isinstance(msg, wire.WantPartials):
            have = frozenset(m for m in range(1, 8 * len(msg.have) + 1) if msg.has(m))
            return WantPartials(msg.sender, msg.block_number, msg.epoch, have)
        raise PeerMessageError("unexpected_type", type(msg).__name__)


REPLAY_SNAPSHOTS = 64
"""Replayed states kept for rolling back reverted blocks (``revertBlocks`` takes <= 32)."""


class RollupReplayer:
    """``StateReplayer`` over the rollup core's incremental :class:`Replayer`."""

    def __init__(self, chain_ids: Sequence[int], params: RollupParams,
                 keep: int = REPLAY_SNAPSHOTS) -> None:
        """Start from the empty genesis state of ``params``; ``keep`` states for rollbacks."""
        self._replayer = Replayer(chain_ids, params)
        self._keep = keep
        self._snapshots: dict[int, tuple[State, bytes]] = {
            0: (self._replayer.state.copy(), self._replayer.sync_hash)}

    @property
    def height(self) -> int:
        """The last block applied."""
        return self._replayer.block_number

    def replay(self, block_number: int, pubdata: bytes) -> bytes:
        """Apply the next block; returns its new state root (bytes32)."""
        root = self._replayer.apply_block(block_number, pubdata).new_state_root_bytes
        self._snapshots[block_number] = (self._replayer.state.copy(), self._replayer.sync_hash)
        for old in [h for h in self._snapshots if h <= block_number - self._keep]:
            del self._snapshots[old]
        return root

    def rollback(self, height: int) -> bool:
        """Return to the state after block ``height`` (one of the last ``keep`` states)."""
        if height == self._replayer.block_number:
            return True
        held = self._snapshots.get(height)
        if held is None or height > self._replayer.block_number:
            return False
        self._replayer.state = held[0].copy()
        self._replayer.sync_hash = held[1]
        self._replayer.block_number = height
        for above in [h for h in self._snapshots if h > height]:
            del self._snapshots[above]
        return True


def rollup_params(config: NodeConfig) -> RollupParams:
    """The rollup core's parameters from ``[rollup]`` (ConfigError naming the key if invalid)."""
    r = config.rollup
    try:
        return RollupParams(depth=r.depth, token_slots=r.token_slots, capacity=r.capacity)
    except RollupError as err:
        raise ConfigError(f"rollup: {err}") from err


def genesis_state_root(params: RollupParams) -> bytes:
    """The state root of the empty genesis state (bytes32)."""
    return root_to_bytes(State(params).root)


def lock_peers(lock: ClusterLock) -> dict[PeerIdStr, MemberIndex]:
    """A lock's members as {peer id: member index}."""
    return {PeerIdStr(m.name): MemberIndex(m.index) for m in lock.members}


def status_extra(deps: NodeDeps) -> dict[str, Any]:
    """The pipeline's part of ``/status``: the tracker's newest block traces."""
    tracker = deps.tracker
    return {"blocks": [] if tracker is None else tracker.recent()}


# -- the real node: adapters from the config ---------------------------------------------
def peer_addrs_from_bootstrap(bootstrap: Sequence[str]) -> dict[PeerIdStr, list[str]]:
    """``/ip4/h/tcp/p/p2p/<id>`` entries as {peer id: [address without /p2p]}."""
    out: dict[PeerIdStr, list[str]] = {}
    for addr in bootstrap:
        base, _, peer = addr.partition("/p2p/")
        out.setdefault(PeerIdStr(peer), []).append(base)
    return out


async def run_from_config(config: NodeConfig, password: str, *,
                          task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Build every real adapter from ``config`` and run the node until cancelled.

    Refuses to start (``ConfigError``) when the BLS share is not in the cluster lock, the
    node's peer id is not the lock's member name for that index, or a chain reports another
    EVM chain id than configured.
    """
    from eth_account import Account

    from oracle_node.chain.cursor import MemoryCursorStore
    from oracle_node.chain.ledger import NonceLedger
    from oracle_node.chain.pool import MultiRpc
    from oracle_node.chain.rpc import HttpTransport, RpcClient
    from oracle_node.chain.submitter import FeePolicy, Submitter
    from oracle_node.health import HealthMonitor, HealthState, serve_http
    from oracle_node.keys import (
        BLS_SHARE_FILE,
        IDENTITY_FILE,
        TX_KEY_FILE,
        load_lock,
        load_share,
        read_keystore,
        scheme_from_lock,
    )
    from oracle_node.p2p.host import HostConfig, Libp2pTransport
    from oracle_node.p2p.identity import identity_from_bytes, peer_id_of

    lock = load_lock(config.cluster_lock)
    share_path = config.bls_keystore or config.keys_dir / BLS_SHARE_FILE
    # A member joining by rotation runs without a share until its reshare completes.
    joining = config.governance is not None and not share_path.exists()
    share = None if joining else load_share(lock, share_path, password)
    if joining:
        log.warning("no_bls_share path=%s: running as a member joining by rotation "
                    "(verifies, never signs, until its reshare completes)", share_path)
    scheme = scheme_from_lock(lock, share, config.network_id)
    identity = identity_from_bytes(read_keystore(config.keys_dir / IDENTITY_FILE, password))
    me = peer_id_of(identity)
    peers = lock_peers(lock)
    if share is not None and peers.get(me) != share.index:
        raise ConfigError(f"node.cluster_lock: member {share.index} is named "
                          f"{lock.members[share.index - 1].name!r} in the lock, but this "
                          f"node's peer id is {me}")
    account = Account.from_key(read_keystore(config.keys_dir / TX_KEY_FILE, password))
    host, _, port = config.listen.split("/")[2:5]
    metrics = NodeMetrics(cluster=lock.name, peer=me)
    transport = Libp2pTransport(key_pair=identity, allowed=list(peers),
                                peer_addrs=peer_addrs_from_bootstrap(config.bootstrap),
                                config=HostConfig(listen_host=host, listen_port=int(port)),
                                metrics=metrics.p2p_sink)
    store = NodeStore.open(config.db_path)
    params = rollup_params(config)
    wirings = []
    for chain in config.chains:
        rpc = MultiRpc([RpcClient(HttpTransport(url), name=f"{chain.name}-{i}")
                        for i, url in enumerate(chain.rpc)],
                       expected_chain_id=chain.evm_chain_id,
                       metrics=metrics.chain_sink(chain.id))
        if await rpc.chain_id() != chain.evm_chain_id:
            raise ConfigError(f"chains[{chain.id}].evm_chain_id: the RPC reports another id")
        ledger = NonceLedger(config.data_dir / f"ledger-{chain.id}.db",
                             account=account.address, chain_id=chain.evm_chain_id)
        submitter = Submitter(rpc=rpc, account=account, chain_id=chain.evm_chain_id,
                              ledger=ledger, fees=FeePolicy(),
                              metrics=metrics.chain_sink(chain.id))
        sender = SubmitterConfirmationSender(chain=RollupChainId(chain.id), rpc=rpc,
                                             contract=chain.contract, submitter=submitter)
        finality = (FinalityRule.finalized_tag(chain.confirmations) if chain.finalized_tag
                    else FinalityRule(confirmations=chain.confirmations))
        wirings.append(ChainWiring(RollupChainId(chain.id), rpc, chain.contract, sender,
                                   finality, chain.start_block, chain.ws))
    t = config.timing
    deps = NodeDeps(
        cluster=lock.name, epoch=Epoch(config.epoch), scheme=scheme, transport=transport,
        peers=peers, chains=wirings, da_chain=RollupChainId(config.da_chain), store=store,
        metrics=metrics, evidence_dir=config.evidence_dir,
        # The replayer rebuilds its state from the DA chain's history at every start, so the
        # watchers rescan from start_block (verified blocks are skipped, never re-signed).
        cursor_store=MemoryCursorStore(),
        replayer=RollupReplayer([c.id for c in config.chains], params),
        genesis_state_root=genesis_state_root(params),
        timing=Timing(t.rerequest_after, t.request_timeout, t.stagger, t.deadline,
                      t.poll_interval),
        group_key=lock.group_public_key.to_bytes(), can_sign=share is not None)
    gov = config.governance
    if gov is not None:
        from oracle_node.ceremony.rotation import SignerSetRotation

        send, recv = trio.open_memory_channel[RotationEvent](CHANNEL_CAPACITY)
        gov_rpc = next(w.rpc for w in wirings if int(w.chain) == gov.chain)
        deps.governance_chain = RollupChainId(gov.chain)
        deps.rotation = RotationWiring(SignerSetRotation(
            rpc=gov_rpc, gate=gov.signer_sets, network_id=config.network_id,
            identity=identity, transport=transport, lock=lock, share=share,
            data_dir=config.data_dir, password=password, events=send,
            lock_path=config.cluster_lock, share_path=share_path,
            from_block=gov.from_block, poll_interval=t.poll_interval),
            recv, config.network_id, gov.grace)
    state = HealthState(interval=5.0)
    http_host, _, http_port = config.http_listen.rpartition(":")
    server = serve_http(state, metrics, http_host, int(http_port))
    monitor = HealthMonitor(state=state, metrics=metrics, transport=transport,
                            chains={w.chain: w.rpc for w in wirings}, store=store,
                            threshold=lock.threshold, extra=lambda: status_extra(deps))
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(transport.run)
            await nursery.start(run_node, deps)
            nursery.start_soon(monitor.run)
            log.info("node_started peer=%s member=%d cluster=%s", me, int(scheme.own_index),
                     lock.name)
            task_status.started()
    finally:
        server.shutdown()
        store.close()
