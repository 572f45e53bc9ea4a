"""The in-process cluster: N nodes, fake chains, a fake network and a sequencer in one process.

Every honest node runs the real wiring (:func:`oracle_node.app.run_node`): H4's watchers over
``FakeChain``s carrying a :class:`~testnet.sim.contract.FakeMainContract`, the real pipeline,
real BLS (``consensus``, arkworks), real transactions signed with ``eth_account``; only the
chains and the network are in memory. Deterministic under trio's ``MockClock``; also runs on
the wall clock (``testnet/bench/node.py``).

Usage::

    async with open_cluster(SimConfig(n=4)) as cluster:
        await cluster.produce(3)
        await cluster.wait_confirmed(3, timeout=120)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from eth_account import Account
from eth_utils.crypto import keccak

from consensus import threshold
from oracle_node.app import ChainWiring, NodeDeps, RollupReplayer, Timing, run_node
from oracle_node.chain.cursor import MemoryCursorStore
from oracle_node.chain.fake import FakeChain
from oracle_node.chain.ledger import NonceLedger
from oracle_node.chain.submitter import FeePolicy, Submitter
from oracle_node.chain.watcher import FinalityRule
from oracle_node.keys import ConsensusScheme
from oracle_node.metrics import NodeMetrics
from oracle_node.p2p.fake import FakeNetwork
from oracle_node.p2p.host import HostConfig, Libp2pTransport
from oracle_node.p2p.identity import generate_identity, peer_id_of
from oracle_node.pipeline.exchange import partials_topic
from oracle_node.pipeline.ports import ConfirmationSender
from oracle_node.pipeline.senders import RpcConfirmationSender, SubmitterConfirmationSender
from oracle_node.pipeline.workers import InlineWorkers
from oracle_node.ports import ChainRpc, Transport
from oracle_node.store.db import NodeStore
from oracle_node.types import Epoch, MemberIndex, PeerIdStr, RollupChainId
from testnet.sim.byzantine import ByzantineMember
from testnet.sim.contract import FakeMainContract
from testnet.sim.sequencer import Lie, SimSequencer

if TYPE_CHECKING:
    from trio import TaskStatus

CONTRACT = "0x" + "2b" * 20


def default_threshold(n: int) -> int:
    """t = 2f + 1 with f = floor((n - 1) / 3): safe against f byzantine, live with f down."""
    return 2 * ((n - 1) // 3) + 1


@dataclass
class SimConfig:
    """Shape of one simulated cluster."""

    n: int = 4
    t: int | None = None
    chains: tuple[int, ...] = (1, 2)
    da_chain: int = 1
    network_id: int = 7
    cluster: str = "sim"
    seed: int = 1
    delay: float | tuple[float, float] = (0.005, 0.05)
    drop_rate: float = 0.0
    miner_interval: float = 1.0
    timing: Timing = field(default_factory=lambda: Timing(
        rerequest_after=3.0, request_timeout=2.0, stagger=5.0, deadline=120.0,
        poll_interval=1.0))
    crashed: frozenset[int] = frozenset()
    byzantine: dict[int, str] = field(default_factory=dict)
    lie: Lie | None = None
    data_dir: Path | None = None
    replay: bool = True
    real_p2p: bool = False
    """Members talk over real py-libp2p hosts on loopback (wall clock only; no crash/restart)."""
    batch_verify: bool = True
    """Nodes batch-verify peer partials (False: one pairing check per partial)."""
    new_heads: bool = True
    """Watchers wake on every mined fake-chain block (as with ``chains[].ws``); False: poll."""
    use_submitter: bool = True
    """Confirm through the chain Submitter (nonce ledger); False: the plain RPC sender."""
    prepare: Callable[[SimCluster], None] | None = None
    """Called after the cluster is built, before anything starts (e.g. ``testnet.sim.rotation``
    replaces the trusted-dealer keys with a DKG lock and attaches rotation components)."""

    @property
    def threshold(self) -> int:
        """The configured or default threshold."""
        return self.t or default_threshold(self.n)


@dataclass
class SimNode:
    """One honest member's handles (deps survive restarts; the store is reopened)."""

    index: int
    peer: PeerIdStr
    deps: NodeDeps
    scope: trio.CancelScope | None = None
    stopped: trio.Event = field(default_factory=trio.Event)


class SimCluster:
    """Handles to a running cluster (build with :func:`open_cluster`)."""

    def __init__(self, config: SimConfig, nursery: trio.Nursery, network: FakeNetwork) -> None:
        self.config = config
        self._nursery = nursery
        self.network = network
        self.group_key, self.shares, public = threshold.trusted_dealer_split_for_tests(
            config.threshold, config.n, config.seed.to_bytes(8, "big"))
        self.public_shares = {p.index: p.public_key for p in public}
        self.identities = ([generate_identity() for _ in range(config.n)]
                           if config.real_p2p else [])
        self.peers = ({peer_id_of(kp): MemberIndex(i)
                       for i, kp in enumerate(self.identities, start=1)}
                      if config.real_p2p else
                      {PeerIdStr(f"sim-peer-{i}"): MemberIndex(i)
                       for i in range(1, config.n + 1)})
        self.libp2p: dict[PeerIdStr, Libp2pTransport] = {}
        self.libp2p_metrics: dict[PeerIdStr, NodeMetrics] = {}
        self.chains = {c: FakeChain(chain_id=1000 + c, name=f"chain{c}", finalized_depth=2)
                       for c in config.chains}
        self.contracts = {c: FakeMainContract(chain, CONTRACT, c, config.network_id,
                                              self.group_key)
                          for c, chain in self.chains.items()}
        for contract in self.contracts.values():
            contract.install()
        self.sequencer = SimSequencer(self.contracts, lie=config.lie)
        self.nodes: dict[int, SimNode] = {}
        self.byzantine: dict[int, ByzantineMember] = {}
        self.joining: dict[int, PeerIdStr] = {}
        """Members started without a share (index above n: they join by rotation)."""
        self.deps_hook: Callable[[int, PeerIdStr, NodeDeps], None] | None = None
        """Called on every freshly built NodeDeps (rotation wiring)."""

    # -- members ---------------------------------------------------------------------------
    def _deps(self, index: int, peer: PeerIdStr, transport: Transport | None = None,
              metrics: NodeMetrics | None = None) -> NodeDeps:
        cfg = self.config
        if metrics is None:
            metrics = NodeMetrics(cluster=cfg.cluster, peer=peer)
        if transport is None:
            transport = self.network.add_node(peer, allowed=list(self.peers),
                                              metrics=metrics.p2p_sink)
        share = self.shares[index - 1] if index <= len(self.shares) else None
        scheme = ConsensusScheme(network_id=cfg.network_id, threshold_t=cfg.threshold,
                                 group_key=self.group_key, public_shares=self.public_shares,
                                 own_share=share)
        account = Account.from_key(keccak(b"sim-tx-key" + index.to_bytes(4, "big")))
        node_dir = (cfg.data_dir / f"node-{index}") if cfg.data_dir else None
        if node_dir is not None:
            node_dir.mkdir(parents=True, exist_ok=True)
        wirings = []
        for c, chain in self.chains.items():
            rpc = chain.endpoint(f"node{index}")
            sender = self._sender(index, c, rpc, account, chain.evm_chain_id, metrics)
            wirings.append(ChainWiring(RollupChainId(c), rpc, CONTRACT, sender,
                                       FinalityRule(confirmations=1), start_block=0,
                                       heads=chain if cfg.new_heads else None))
        store = NodeStore.open(node_dir / "node.db" if node_dir else ":memory:")
        replayer = (RollupReplayer(cfg.chains, self.sequencer.params) if cfg.replay else None)
        deps = NodeDeps(
            cluster=cfg.cluster, epoch=Epoch(1), scheme=scheme, transport=transport,
            peers=self.peers, chains=wirings, da_chain=RollupChainId(cfg.da_chain),
            store=store, metrics=metrics,
            evidence_dir=(node_dir or Path(".cache/sim")) / "evidence",
            cursor_store=MemoryCursorStore(), replayer=replayer,
            genesis_state_root=self.sequencer.genesis_state_root(), timing=cfg.timing,
            batch_verify=cfg.batch_verify, group_key=self.group_key.to_bytes(),
            can_sign=share is not None, workers=InlineWorkers())
        if self.deps_hook is not None:
            self.deps_hook(index, peer, deps)
        return deps

    def _sender(self, index: int, chain: int, rpc: ChainRpc, account: Any,
                evm_chain_id: int, metrics: NodeMetrics) -> ConfirmationSender:
        cfg = self.config
        if not cfg.use_submitter:
            return RpcConfirmationSender(chain=RollupChainId(chain), rpc=rpc, contract=CONTRACT,
                                         account=account, evm_chain_id=evm_chain_id,
                                         receipt_poll=cfg.miner_interval / 2)
        ledger_path = (cfg.data_dir / f"node-{index}" / f"ledger-{chain}.db"
                       if cfg.data_dir else ":memory:")
        ledger = NonceLedger(ledger_path, account=account.address, chain_id=evm_chain_id)
        submitter = Submitter(rpc=rpc, account=account, chain_id=evm_chain_id, ledger=ledger,
                              fees=FeePolicy(receipt_poll=cfg.miner_interval / 2,
                                             inclusion_deadline=10 * cfg.miner_interval),
                              metrics=metrics.chain_sink(chain))
        return SubmitterConfirmationSender(chain=RollupChainId(chain), rpc=rpc,
                                           contract=CONTRACT, submitter=submitter)

    async def start(self) -> None:
        """Start chains' miners, honest nodes and byzantine members."""
        cfg = self.config
        for chain in self.chains.values():
            self._nursery.start_soon(chain.run_miner, cfg.miner_interval)
        if cfg.real_p2p:
            await self._start_libp2p()
        for peer, index in self.peers.items():
            if index in cfg.byzantine:
                transport = (self.libp2p.get(peer)
                             or self.network.add_node(peer, allowed=list(self.peers)))
                member = ByzantineMember(behaviour=cfg.byzantine[index],
                                         share=self.shares[index - 1], transport=transport,
                                         topic=partials_topic(cfg.cluster),
                                         sequencer=self.sequencer, network_id=cfg.network_id,
                                         seed=cfg.seed + index)
                self.byzantine[index] = member
                self._nursery.start_soon(member.run)
                continue
            node = SimNode(index, peer, self._deps(index, peer, self.libp2p.get(peer),
                                                   self.libp2p_metrics.get(peer)))
            self.nodes[index] = node
            if index in cfg.crashed:
                self.network.crash(peer)
                continue
            await self.start_node(index)

        for joiner, peer in sorted(self.joining.items()):
            self.nodes[joiner] = SimNode(joiner, peer, self._deps(joiner, peer))
            await self.start_node(joiner)

    async def replace_keys(self, group_key: Any, shares: list[threshold.KeyShare],
                           public_shares: dict[int, Any]) -> None:
        """Stop every honest node and restart it with other key shares and a fresh store.

        A new cluster with a new group key (e.g. after a handover) on the same chains,
        peers and transports; in-memory stores only.
        """
        self.group_key, self.shares, self.public_shares = group_key, shares, public_shares
        for index, node in sorted(self.nodes.items()):
            await self.stop_node(index)
            node.deps.store.close()
            node.deps = self._deps(index, node.peer, node.deps.transport, node.deps.metrics)
            node.scope = None
            await self.start_node(index)

    async def _start_libp2p(self) -> None:
        for key_pair in self.identities:
            metrics = NodeMetrics(cluster=self.config.cluster, peer=peer_id_of(key_pair))
            transport = Libp2pTransport(key_pair=key_pair, allowed=list(self.peers),
                                        config=HostConfig(listen_port=0),
                                        metrics=metrics.p2p_sink)
            self.libp2p_metrics[transport.local_peer] = metrics
            await self._nursery.start(transport.run)
            self.libp2p[transport.local_peer] = transport
        for transport in self.libp2p.values():
            for peer, other in self.libp2p.items():
                if peer != transport.local_peer:
                    transport.add_peer_addrs(peer, other.listen_addrs)
        for peer, transport in self.libp2p.items():
            others = [p for p in self.libp2p if p != peer]
            if not await transport.wait_connected(others, timeout=30):
                raise RuntimeError(f"libp2p host {peer} did not connect to every member")

    async def start_node(self, index: int) -> None:
        """(Re)start an honest node with its persisted store."""
        node = self.nodes[index]
        if node.scope is not None:  # a restart: fresh in-memory state, same database file
            node.deps.store.close()
            fresh = self._deps_restart(node)
            node.deps = fresh
        node.stopped = trio.Event()
        self.network.restart(node.peer)

        async def runner(task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            with trio.CancelScope() as scope:
                node.scope = scope
                await run_node(node.deps, task_status=task_status)
            node.stopped.set()

        await self._nursery.start(runner)

    def _deps_restart(self, node: SimNode) -> NodeDeps:
        old = node.deps
        if self.config.data_dir is None:
            raise ValueError("restarts need SimConfig.data_dir (a persisted store)")
        return self._deps(node.index, node.peer, old.transport, old.metrics)

    async def stop_node(self, index: int) -> None:
        """Crash an honest node (cancel its tasks, cut it from the network)."""
        node = self.nodes[index]
        self.network.crash(node.peer)
        if node.scope is not None:
            node.scope.cancel()
            await node.stopped.wait()

    # -- driving -------------------------------------------------------------------------
    async def produce(self, blocks: int, interval: float = 2.0) -> None:
        """Let the sequencer post ``blocks`` blocks, ``interval`` seconds apart."""
        for _ in range(blocks):
            self.sequencer.next_block()
            await trio.sleep(interval)

    def confirmed_everywhere(self, block: int) -> bool:
        """Whether every chain confirmed ``block`` (or a later block)."""
        return all(c.last_confirmed >= block for c in self.contracts.values())

    async def wait_confirmed(self, block: int, *, timeout: float) -> bool:
        """Wait (trio time) until every chain confirmed ``block``; False on timeout."""
        with trio.move_on_after(timeout):
            while not self.confirmed_everywhere(block):
                await trio.sleep(0.25)
            return True
        return False

    def honest_running(self) -> list[SimNode]:
        """Honest nodes that are not crashed."""
        return [n for i, n in sorted(self.nodes.items())
                if i not in self.config.crashed and not self.network.is_crashed(n.peer)]


@asynccontextmanager
async def open_cluster(config: SimConfig) -> AsyncIterator[SimCluster]:
    """Start a cluster; everything is cancelled when the block exits."""
    async with trio.open_nursery() as nursery:
        network = FakeNetwork(delay=config.delay, drop_rate=config.drop_rate, seed=config.seed)
        await nursery.start(network.run)
        cluster = SimCluster(config, nursery, network)
        if config.prepare is not None:
            config.prepare(cluster)
        await cluster.start()
        try:
            yield cluster
        finally:
            for transport in cluster.libp2p.values():
                transport.stop()
            nursery.cancel_scope.cancel()
            for node in cluster.nodes.values():
                node.deps.store.close()
