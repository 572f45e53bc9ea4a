"""An in-memory network of ``FakeTransport``s with the semantics of the libp2p host.

Deterministic under trio's ``MockClock``: all randomness comes from one seeded
``random.Random``, and deliveries are driven by a single scheduler task (a heap ordered by
due time and sequence number), so a cluster of 64 nodes costs one task, not one per message.

Same rules as ``oracle_node.p2p.host``: a link between two nodes exists only if each is on
the other's allow-list, neither crashed and both are in the same partition group; gossip is
best-effort (random drops, partitions, full subscription queues drop and count); a node never
receives its own publications; requests go to registered handlers with size limits and
timeouts (a partitioned peer times out, a crashed or refusing one is unreachable).
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio

from oracle_node.p2p.common import (
    DEFAULT_SUBSCRIPTION_CAPACITY,
    EV_CONNECTION_REFUSED,
    EV_DELIVERED,
    EV_GOSSIP_DROPPED,
    EV_GOSSIP_REJECTED,
    EV_REQUEST_REJECTED,
    EV_REQUEST_SERVED,
    MAX_RESPONSE_BYTES,
    R_HANDLER_ERROR,
    R_NO_HANDLER,
    R_NOT_MEMBER,
    R_OK,
    R_QUEUE_FULL,
    R_TOO_LARGE,
    AllowList,
    checked_request,
)
from oracle_node.p2p.errors import (
    BadResponse,
    PayloadTooLarge,
    PeerUnreachable,
    RequestRefused,
    RequestTimeout,
)
from oracle_node.p2p.wire import MAX_MESSAGE_BYTES
from oracle_node.ports import MetricsSink, RequestHandler, discard_metrics
from oracle_node.types import PeerIdStr

Delay = float | tuple[float, float]
"""A fixed one-way delay in seconds, or a (low, high) range drawn uniformly per message."""


class FakeNetwork:
    """The shared medium of a set of ``FakeTransport``s (one per simulated node)."""

    def __init__(self, *, delay: Delay = 0.001, drop_rate: float = 0.0, seed: int = 0) -> None:
        self.delay: Delay = delay
        self.drop_rate = drop_rate
        self.rng = random.Random(seed)
        self.stats: Counter[str] = Counter()
        """Network-side counts: ``sent``, ``dropped_random``, ``dropped_partition``."""
        self._nodes: dict[PeerIdStr, FakeTransport] = {}
        self._group: dict[PeerIdStr, int] = {}
        self._crashed: set[PeerIdStr] = set()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self._wake = trio.Event()

    # -- topology -----------------------------------------------------------------------
    def add_node(self, peer: PeerIdStr, *, allowed: Iterable[PeerIdStr],
                 metrics: MetricsSink = discard_metrics,
                 subscription_capacity: int = DEFAULT_SUBSCRIPTION_CAPACITY) -> FakeTransport:
        """Create the transport of node ``peer`` with its allow-list."""
        if peer in self._nodes:
            raise ValueError(f"duplicate peer {peer}")
        node = FakeTransport(self, peer, AllowList(allowed), metrics, subscription_capacity)
        self._nodes[peer] = node
        return node

    def partition(self, *groups: Iterable[PeerIdStr]) -> None:
        """Split the network: links only inside a group; unlisted peers form one more group."""
        self._group = {peer: index + 1 for index, group in enumerate(groups) for peer in group}

    def heal(self) -> None:
        """Remove every partition."""
        self._group = {}

    def crash(self, peer: PeerIdStr) -> None:
        """Make ``peer`` silent and unreachable (its queued deliveries are lost)."""
        self._crashed.add(peer)

    def restart(self, peer: PeerIdStr) -> None:
        """Bring a crashed ``peer`` back (its subscriptions and handlers are kept)."""
        self._crashed.discard(peer)

    def is_crashed(self, peer: PeerIdStr) -> bool:
        """Whether ``peer`` is currently crashed."""
        return peer in self._crashed

    def link_up(self, a: PeerIdStr, b: PeerIdStr) -> bool:
        """Whether ``a`` and ``b`` can currently talk (alive, same group, mutually allowed)."""
        if a in self._crashed or b in self._crashed:
            return False
        if self._group.get(a, 0) != self._group.get(b, 0):
            return False
        na, nb = self._nodes.get(a), self._nodes.get(b)
        return na is not None and nb is not None and b in na.allow and a in nb.allow

    def one_way_delay(self) -> float:
        """Draw one message delay."""
        if isinstance(self.delay, tuple):
            return self.rng.uniform(*self.delay)
        return self.delay

    # -- scheduler ----------------------------------------------------------------------
    def _schedule(self, delay: float, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (trio.current_time() + delay, self._seq, action))
        self._wake.set()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Deliver scheduled gossip until cancelled (start it in the cluster's nursery)."""
        task_status.started()
        while True:
            if not self._heap:
                self._wake = trio.Event()
                await self._wake.wait()
                continue
            due = self._heap[0][0]
            if due > trio.current_time():
                self._wake = trio.Event()
                with trio.move_on_at(due):
                    await self._wake.wait()
                continue
            _, _, action = heapq.heappop(self._heap)
            action()

    def _broadcast(self, sender: PeerIdStr, topic: str, data: bytes) -> None:
        for peer, node in self._nodes.items():
            if peer == sender or topic not in node.subscriptions:
                continue
            if peer in self._crashed:
                continue
            if not self.link_up(sender, peer):
                if self._group.get(sender, 0) == self._group.get(peer, 0) \
                        and sender not in node.allow:
                    node.metrics(EV_GOSSIP_REJECTED, R_NOT_MEMBER)
                else:
                    self.stats["dropped_partition"] += 1
                continue
            if self.drop_rate and self.rng.random() < self.drop_rate:
                self.stats["dropped_random"] += 1
                continue
            self.stats["sent"] += 1
            self._schedule(self.one_way_delay(), partial(self._deliver, sender, node, topic, data))

    def _deliver(self, sender: PeerIdStr, node: FakeTransport, topic: str, data: bytes) -> None:
        if not self.link_up(sender, node.local_peer):  # partitioned or crashed in flight
            self.stats["dropped_partition"] += 1
            return
        node.receive(sender, topic, data)

    async def request(self, sender: PeerIdStr, peer: PeerIdStr, protocol: str, data: bytes,
                      timeout: float) -> bytes:
        """Carry one request/response exchange between two nodes (see FakeTransport)."""
        target = self._nodes.get(peer)
        with trio.move_on_after(timeout):
            await trio.sleep(self.one_way_delay())
            if target is None or peer in self._crashed or sender in self._crashed:
                raise PeerUnreachable(f"{peer} is down")
            if sender not in target.allow:
                target.metrics(EV_CONNECTION_REFUSED, R_NOT_MEMBER)
                raise PeerUnreachable(f"{peer} refused the connection")
            if not self.link_up(sender, peer):
                await trio.sleep_forever()  # a partition looks like silence
            response = await target.serve(sender, protocol, data)
            await trio.sleep(self.one_way_delay())
            if not self.link_up(sender, peer):
                await trio.sleep_forever()
            return response
        raise RequestTimeout(f"no response from {peer} within {timeout} s")


class FakeTransport:
    """One node's endpoint on a ``FakeNetwork``; implements ``oracle_node.ports.Transport``."""

    def __init__(self, network: FakeNetwork, peer: PeerIdStr, allow: AllowList,
                 metrics: MetricsSink, subscription_capacity: int) -> None:
        self._network = network
        self._peer = peer
        self.allow = allow
        self.metrics = metrics
        self._capacity = subscription_capacity
        self.subscriptions: dict[str, trio.MemorySendChannel[tuple[PeerIdStr, bytes]]] = {}
        self._receivers: dict[str, trio.MemoryReceiveChannel[tuple[PeerIdStr, bytes]]] = {}
        self._handlers: dict[str, RequestHandler] = {}

    @property
    def local_peer(self) -> PeerIdStr:
        """This node's peer id."""
        return self._peer

    def set_allowed_peers(self, peers: Iterable[PeerIdStr]) -> None:
        """Replace the allow-list (signer-set rotation); links to removed peers drop at once."""
        self.allow.replace(peers)

    async def publish(self, topic: str, data: bytes) -> None:
        """Best-effort broadcast to every linked subscriber of ``topic`` (never to self)."""
        await trio.lowlevel.checkpoint()
        if len(data) > MAX_MESSAGE_BYTES:
            raise PayloadTooLarge(f"{len(data)} bytes > {MAX_MESSAGE_BYTES}")
        if self._network.is_crashed(self._peer):
            return
        self._network._broadcast(self._peer, topic, data)

    async def subscribe(self, topic: str) -> trio.MemoryReceiveChannel[tuple[PeerIdStr, bytes]]:
        """Bounded channel of (sender, data); a second call shares the same queue."""
        await trio.lowlevel.checkpoint()
        if topic not in self.subscriptions:
            send, recv = trio.open_memory_channel[tuple[PeerIdStr, bytes]](self._capacity)
            self.subscriptions[topic] = send
            self._receivers[topic] = recv
            return recv
        return self._receivers[topic].clone()

    def receive(self, sender: PeerIdStr, topic: str, data: bytes) -> None:
        """Network edge: enqueue one validated message or drop and count it."""
        channel = self.subscriptions.get(topic)
        if channel is None:
            return
        if sender not in self.allow:  # validator: the source must be a current member
            self.metrics(EV_GOSSIP_REJECTED, R_NOT_MEMBER)
            return
        try:
            channel.send_nowait((sender, data))
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            self.metrics(EV_GOSSIP_DROPPED, R_QUEUE_FULL)
        else:
            self.metrics(EV_DELIVERED, R_OK)

    def set_request_handler(self, protocol: str, handler: RequestHandler) -> None:
        """Serve ``protocol`` requests from allow-listed peers with ``handler``."""
        self._handlers[protocol] = handler

    async def serve(self, sender: PeerIdStr, protocol: str, data: bytes) -> bytes:
        """Run the handler for one incoming request (called by the network)."""
        handler = self._handlers.get(protocol)
        if handler is None:
            self.metrics(EV_REQUEST_REJECTED, R_NO_HANDLER)
            raise RequestRefused(f"no handler for {protocol}")
        try:
            response = await handler(sender, data)
        except Exception as err:
            self.metrics(EV_REQUEST_REJECTED, R_HANDLER_ERROR)
            raise RequestRefused(f"handler failed: {type(err).__name__}") from err
        if len(response) > MAX_RESPONSE_BYTES:
            self.metrics(EV_REQUEST_REJECTED, R_TOO_LARGE)
            raise RequestRefused("response too large")
        self.metrics(EV_REQUEST_SERVED, R_OK)
        return response

    async def request(self, peer: PeerIdStr, protocol: str, data: bytes,
                      timeout: float = 5.0) -> bytes:
        """One request/response exchange with ``peer`` (raises ``RequestError`` subclasses)."""
        async def exchange() -> bytes:
            response = await self._network.request(self._peer, peer, protocol, data, timeout)
            if len(response) > MAX_RESPONSE_BYTES:  # pragma: no cover - serve() refuses first
                raise BadResponse("response too large")
            return response

        return await checked_request(self.allow, self.metrics, peer, data, exchange)

    def connected_peers(self) -> list[PeerIdStr]:
        """Allow-listed peers this node currently has a link to."""
        return sorted(peer for peer in self.allow.peers
                      if peer != self._peer and self._network.link_up(self._peer, peer))


@asynccontextmanager
async def open_fake_network(*, delay: Delay = 0.001, drop_rate: float = 0.0,
                            seed: int = 0) -> AsyncIterator[FakeNetwork]:
    """A ``FakeNetwork`` with its scheduler running for the duration of the block."""
    network = FakeNetwork(delay=delay, drop_rate=drop_rate, seed=seed)
    async with trio.open_nursery() as nursery:
        await nursery.start(network.run)
        yield network
        nursery.cancel_scope.cancel()
