"""The one wiring module: opens every bounded channel and starts the components in a nursery.

::

    watcher (per chain) ─facts─▶ router ─▶ verifier ─RootVerified─▶ signer ─PartialSigned─▶
    exchange (gossip ⇄ peers) ─verified partials─▶ aggregator ─AggregateReady─▶
    scheduler (per chain, + that chain's RootConfirmed from the router) ─▶ chain sender
    every component ─StepRecorded─▶ tracker

:func:`run_node` takes already-built adapters (:class:`NodeDeps`, ``oracle_node.node_deps``),
so the real node (``oracle-node run``: :func:`run_from_config` builds them from the config
through ``oracle_node.node_builder``) and the in-process simulator (``testnet.sim``, fakes)
share exactly this wiring. The names other code imports from here (the dependencies, the
replayer, the codec, ``resume``) are re-exported from the modules they live in.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

import trio

from oracle_node.ceremony.rotation import (
    ReshareCompleted,
    RotationEvent,
    RotationFailed,
    SignerSetActivated,
)
from oracle_node.chain.events import ChainFact as WatchedFact
from oracle_node.chain.watcher import Watcher
from oracle_node.chain.ws import NewHeadsSubscriber
from oracle_node.config import NodeConfig
from oracle_node.errors import ConfigError
from oracle_node.keys import scheme_from_lock
from oracle_node.node_deps import (
    ChainWiring,
    NodeDeps,
    RotationWiring,
    Timing,
    lock_peers,
    status_extra,
)
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
from oracle_node.pipeline.scheduler import ConfirmationScheduler
from oracle_node.pipeline.senders import SubmitterConfirmationSender
from oracle_node.pipeline.signer import Signer
from oracle_node.pipeline.signer_sets import KeyPlanner, SignerSets
from oracle_node.pipeline.tracker import Tracker
from oracle_node.pipeline.verifier import ChainFact, Verifier
from oracle_node.replay import REPLAY_SNAPSHOTS, RollupReplayer, genesis_state_root, rollup_params
from oracle_node.resume import RESUME_WINDOW, resume
from oracle_node.types import RollupChainId
from oracle_node.wire_codec import WireCodec

if TYPE_CHECKING:
    from trio import TaskStatus

__all__ = [
    "CHANNEL_CAPACITY", "REPLAY_SNAPSHOTS", "RESUME_WINDOW", "WAKE_CAPACITY", "ChainWiring",
    "NodeDeps", "RollupReplayer", "RotationWiring", "Timing", "WireCodec",
    "genesis_state_root", "lock_peers", "resume", "rollup_params", "run_from_config",
    "run_node", "status_extra",
]

log = logging.getLogger("oracle_node.app")

CHANNEL_CAPACITY = 256
"""Every internal channel's buffer (backpressure beyond it; measured peak in the n=16 sim
is below 40 items)."""
WAKE_CAPACITY = 16
"""New-head wake-ups buffered per chain (more are dropped and counted; the watcher coalesces)."""


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
        store=deps.store, metrics=deps.metrics, stagger=deps.timing.stagger, rank=sets.rank,
        is_current=functools.partial(planner.still_current, c.chain))
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
            elif wiring.heads is not None:
                wake_tx, wake_rx = trio.open_memory_channel[int](WAKE_CAPACITY)
                nursery.start_soon(wiring.heads.feed, wake_tx)
            watcher = Watcher(chain=wiring.chain, rpc=wiring.rpc, contract=wiring.contract,
                              out=facts_tx.clone(), cursor_store=deps.cursor_store,
                              finality=wiring.finality, start_block=wiring.start_block,
                              poll_interval=deps.timing.poll_interval, metrics=sink,
                              wake=wake_rx)
            nursery.start_soon(watcher.run)
        task_status.started()



async def run_from_config(config: NodeConfig, password: str, *,
                          task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Build every real adapter from ``config`` and run the node until cancelled.

    Refuses to start (``ConfigError``) when the BLS share is not in the cluster lock, the
    node's peer id is not the lock's member name for that index, or a chain reports another
    EVM chain id than configured.
    """
    from oracle_node.health import HealthMonitor, HealthState, serve_http
    from oracle_node.node_builder import build_node, rotation_wiring

    built = await build_node(config, password)
    deps, transport, lock = built.deps, built.transport, built.lock
    gov = config.governance
    if gov is not None:
        send, recv = trio.open_memory_channel[RotationEvent](CHANNEL_CAPACITY)
        deps.governance_chain = RollupChainId(gov.chain)
        deps.rotation = rotation_wiring(config, gov, built, password, send, recv)
    state = HealthState(interval=5.0)
    http_host, _, http_port = config.http_listen.rpartition(":")
    try:
        server = serve_http(state, deps.metrics, http_host, int(http_port))
    except ConfigError:
        deps.store.close()
        raise
    monitor = HealthMonitor(state=state, metrics=deps.metrics, transport=transport,
                            chains={w.chain: w.rpc for w in deps.chains}, store=deps.store,
                            threshold=lock.threshold, extra=lambda: status_extra(deps))
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(transport.run)
            await nursery.start(run_node, deps)
            nursery.start_soon(monitor.run)
            log.info("node_started peer=%s member=%d cluster=%s", built.me,
                     int(deps.scheme.own_index), lock.name)
            task_status.started()
    finally:
        server.shutdown()
        deps.store.close()
