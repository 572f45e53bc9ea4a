"""The libp2p transport: a py-libp2p 0.8.1 host with GossipSub behind ``ports.Transport``.

Settings (measured and explained in docs/p2p.md): TCP on loopback or a given interface,
**Noise only** (``sec_opt`` replaces the default, which also offers TLS, SECIO and
plaintext), yamux (or mplex), GossipSub with protocol ids newest first
(``/meshsub/1.2.0``, ``/meshsub/1.1.0``, ``/meshsub/1.0.0``), ``heartbeat_interval=1``,
spam protection raised to ``max_messages_per_topic_per_second`` (the default 10/s drops most
of a burst of partials), strict signing, one topic per message, at most 64 KiB per message.

Membership is enforced three times: the Noise handshake refuses any peer id outside the
allow-list (counted ``connection_refused``), each topic validator rejects messages whose
*source* is not a member (it also sees our own messages, which it accepts), and the request
handler refuses non-members. Shutdown follows the order that avoids leaked tasks and
``Nursery is closed`` crashes: ``host.close()`` inside ``host.run()``, then the pubsub
services stop, then ``pubsub.seen_messages.stop()`` (it owns a thread).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, PROTOCOL_ID_V12, GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.security.exceptions import HandshakeFailure
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.tools.anyio_service import background_trio_service

from oracle_node.errors import P2PError
from oracle_node.p2p import streams
from oracle_node.p2p.common import (
    DEFAULT_SUBSCRIPTION_CAPACITY,
    EV_CONNECTION_REFUSED,
    EV_DELIVERED,
    EV_GOSSIP_DROPPED,
    EV_GOSSIP_REJECTED,
    R_MULTI_TOPIC,
    R_NOT_MEMBER,
    R_OK,
    R_QUEUE_FULL,
    R_TOO_LARGE,
    AllowList,
)
from oracle_node.p2p.errors import NotStartedError, PayloadTooLarge
from oracle_node.p2p.identity import peer_id_of
from oracle_node.p2p.wire import MAX_MESSAGE_BYTES
from oracle_node.ports import MetricsSink, RequestHandler, discard_metrics
from oracle_node.types import PeerIdStr

GOSSIPSUB_PROTOCOLS = (PROTOCOL_ID_V12, PROTOCOL_ID_V11, PROTOCOL_ID)
"""Newest first: js-libp2p speaks up to /meshsub/1.2.0 (py also offers 1.3+, not needed)."""


@dataclass(frozen=True)
class HostConfig:
    """Tunables of the libp2p host (defaults are the measured choices of docs/p2p.md)."""

    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    muxer: Literal["yamux", "mplex"] = "yamux"
    heartbeat_interval: int = 1
    max_messages_per_topic_per_second: float = 2000.0
    degree: int = 6
    degree_low: int = 4
    degree_high: int = 12
    subscription_capacity: int = DEFAULT_SUBSCRIPTION_CAPACITY
    dial_interval: float = 1.0
    dial_timeout: float = 5.0
    serve_timeout: float = 10.0
    max_concurrent_requests: int = 32
    shutdown_timeout: float = 10.0


class _GatedNoise(NoiseTransport):
    """Noise that refuses, right after the handshake, any peer outside the allow-list."""

    def __init__(self, key_pair: KeyPair, allow: AllowList, metrics: MetricsSink,
                 local: PeerIdStr) -> None:
        super().__init__(key_pair, noise_privkey=new_x25519_key_pair().private_key)
        self._allow = allow
        self._metrics = metrics
        self._local = local

    async def _gate(self, secure_conn: Any) -> Any:
        remote = PeerIdStr(secure_conn.get_remote_peer().to_base58())
        if remote != self._local and remote not in self._allow:
            self._metrics(EV_CONNECTION_REFUSED, R_NOT_MEMBER)
            try:
                await secure_conn.close()
            except Exception:  # the refusal stands even if the close fails
                pass
            raise HandshakeFailure(f"peer {remote} is not a cluster member")
        return secure_conn

    async def secure_inbound(self, conn: Any) -> Any:
        """Noise XX as responder, then the membership check."""
        return await self._gate(await super().secure_inbound(conn))

    async def secure_outbound(self, conn: Any, peer_id: ID) -> Any:
        """Noise XX as initiator, then the membership check."""
        return await self._gate(await super().secure_outbound(conn, peer_id))


class Libp2pTransport:
    """Authenticated messaging between cluster members over py-libp2p (``ports.Transport``).

    Start with ``await nursery.start(transport.run)``; stop with :meth:`stop` (or cancel).
    """

    def __init__(self, *, key_pair: KeyPair, allowed: Iterable[PeerIdStr],
                 peer_addrs: Mapping[PeerIdStr, Sequence[str]] | None = None,
                 config: HostConfig | None = None, metrics: MetricsSink = discard_metrics) -> None:
        self._key_pair = key_pair
        self._peer = peer_id_of(key_pair)
        self._self_bytes = ID.from_base58(self._peer).to_bytes()
        self.allow = AllowList(allowed)
        self._allowed_bytes = self._member_bytes()
        self._addrs = {peer: list(addrs) for peer, addrs in (peer_addrs or {}).items()}
        self.config = config or HostConfig()
        self.metrics = metrics
        self._handlers: dict[str, RequestHandler] = {}
        self._limiter = trio.CapacityLimiter(self.config.max_concurrent_requests)
        self._receivers: dict[str, trio.MemoryReceiveChannel[tuple[PeerIdStr, bytes]]] = {}
        self._stop = trio.Event()
        self._host: Any = None
        self._pubsub: Any = None
        self._nursery: trio.Nursery | None = None
        self.listen_addrs: list[str] = []

    # -- identity and membership ----------------------------------------------------------
    @property
    def local_peer(self) -> PeerIdStr:
        """This node's peer id."""
        return self._peer

    def _member_bytes(self) -> dict[bytes, PeerIdStr]:
        """Raw peer id → base58 of every member (gossip sources arrive as raw bytes)."""
        return {ID.from_base58(p).to_bytes(): p for p in self.allow.peers}

    def add_peer_addrs(self, peer: PeerIdStr, addrs: Sequence[str]) -> None:
        """Record where ``peer`` listens (multiaddrs); the dialer connects to members."""
        self._addrs[peer] = list(addrs)

    def set_allowed_peers(self, peers: Iterable[PeerIdStr]) -> None:
        """Replace the allow-list (signer-set rotation) and drop connections to removed peers."""
        removed = self.allow.replace(peers)
        self._allowed_bytes = self._member_bytes()
        if self._nursery is not None and self._host is not None:
            for peer in removed:
                self._nursery.start_soon(self._host.disconnect, ID.from_base58(peer))

    def connected_peers(self) -> list[PeerIdStr]:
        """Currently connected allow-listed peers."""
        if self._host is None:
            return []
        peers = (PeerIdStr(p.to_base58()) for p in self._host.get_connected_peers())
        return sorted(p for p in peers if p in self.allow)

    # -- lifecycle ----------------------------------------------------------------------
    def stop(self) -> None:
        """Ask :meth:`run` to shut down cleanly and return."""
        self._stop.set()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run the host until :meth:`stop` or cancellation; shutdown is clean in both cases."""
        _check_port_free(self.config.listen_host, self.config.listen_port)
        stopped = trio.Event()
        async with trio.open_nursery() as nursery:
            await nursery.start(self._run_stack, stopped)
            task_status.started()
            try:
                await stopped.wait()
            finally:
                # On cancellation the stack (shielded) still runs its full shutdown.
                self._stop.set()

    async def _run_stack(self, stopped: trio.Event, *,
                         task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        cfg = self.config
        with trio.CancelScope(shield=True):
            try:
                muxer: dict[TProtocol, Any] = (
                    {TProtocol(YAMUX_PROTOCOL_ID): Yamux} if cfg.muxer == "yamux"
                    else {TProtocol(MPLEX_PROTOCOL_ID): Mplex})
                listen = multiaddr.Multiaddr(f"/ip4/{cfg.listen_host}/tcp/{cfg.listen_port}")
                host = new_host(
                    key_pair=self._key_pair, muxer_opt=muxer, listen_addrs=[listen],
                    sec_opt={NOISE_PROTOCOL_ID: _GatedNoise(self._key_pair, self.allow,
                                                            self.metrics, self._peer)})
                gossipsub = GossipSub(
                    protocols=list(GOSSIPSUB_PROTOCOLS), degree=cfg.degree,
                    degree_low=cfg.degree_low, degree_high=cfg.degree_high,
                    heartbeat_interval=cfg.heartbeat_interval,
                    max_messages_per_topic_per_second=cfg.max_messages_per_topic_per_second)
                # The inbound RPC cap stays at py-libp2p's 1 MiB: an RPC batches control
                # data with messages, and exceeding the cap tears the peer down. Our own
                # 64 KiB limit per message is enforced by the topic validator.
                pubsub = Pubsub(host, gossipsub, strict_signing=True)
            except Exception as err:
                raise P2PError(f"cannot build the libp2p host: {err}") from err
            try:
                async with host.run(listen_addrs=[listen]), background_trio_service(pubsub), \
                        background_trio_service(gossipsub):
                        await pubsub.wait_until_ready()
                        self._host, self._pubsub = host, pubsub
                        self.listen_addrs = [f"{a}" for a in host.get_addrs()]
                        if not self.listen_addrs:  # py-libp2p only logs a failed listener
                            raise P2PError(f"p2p.listen: cannot listen on {listen} (address "
                                           f"in use or not a local address)")
                        for protocol in self._handlers:
                            self._register(protocol)
                        try:
                            async with trio.open_nursery() as nursery:
                                self._nursery = nursery
                                nursery.start_soon(self._dial_loop)
                                task_status.started()
                                await self._stop.wait()
                                nursery.cancel_scope.cancel()
                        finally:
                            self._nursery = None
                            with trio.move_on_after(cfg.shutdown_timeout):
                                await host.close()
            finally:
                pubsub.seen_messages.stop()
                self._host = self._pubsub = None
                self._receivers.clear()  # the pumps closed their send sides: consumers see EOF
                stopped.set()

    # -- connections --------------------------------------------------------------------
    async def _dial_loop(self) -> None:
        missing_rounds: dict[PeerIdStr, int] = {}
        while True:
            connected = set(self.connected_peers())
            async with trio.open_nursery() as nursery:
                for peer in sorted(self.allow.peers):
                    if peer == self._peer or peer in connected or peer not in self._addrs:
                        missing_rounds.pop(peer, None)
                        continue
                    # The smaller id dials; the other side waits two rounds before dialing
                    # too, so that a healthy pair holds one connection, not two.
                    rounds = missing_rounds[peer] = missing_rounds.get(peer, 0) + 1
                    if self._peer < peer or rounds > 2:
                        nursery.start_soon(self._dial, peer)
            await trio.sleep(self.config.dial_interval)

    async def _dial(self, peer: PeerIdStr) -> None:
        info = PeerInfo(ID.from_base58(peer), [multiaddr.Multiaddr(a) for a in self._addrs[peer]])
        with trio.move_on_after(self.config.dial_timeout):
            try:
                await self._host.connect(info)
            except Exception:  # unreachable peers are retried next round
                self.metrics("dial_failed", "unreachable")

    async def wait_connected(self, peers: Iterable[PeerIdStr], timeout: float = 10.0) -> bool:
        """Wait until every peer in ``peers`` is connected and in our pubsub view."""
        wanted = set(peers)
        with trio.move_on_after(timeout):
            while True:
                have = set(self.connected_peers())
                views = {PeerIdStr(p.to_base58()) for p in self._pubsub.peers} \
                    if self._pubsub is not None else set()
                if wanted <= have and wanted <= views:
                    return True
                await trio.sleep(0.05)
        return False

    # -- gossip -------------------------------------------------------------------------
    def _validate(self, forwarder: ID, msg: Any) -> bool:
        source = bytes(msg.from_id)
        if source != self._self_bytes and source not in self._allowed_bytes:
            self.metrics(EV_GOSSIP_REJECTED, R_NOT_MEMBER)
            return False
        if len(msg.topicIDs) != 1:
            self.metrics(EV_GOSSIP_REJECTED, R_MULTI_TOPIC)
            return False
        if len(msg.data) > MAX_MESSAGE_BYTES:
            self.metrics(EV_GOSSIP_REJECTED, R_TOO_LARGE)
            return False
        return True

    async def publish(self, topic: str, data: bytes) -> None:
        """Best-effort broadcast of ``data`` (≤ 64 KiB) to the members subscribed to ``topic``."""
        if len(data) > MAX_MESSAGE_BYTES:
            raise PayloadTooLarge(f"{len(data)} bytes > {MAX_MESSAGE_BYTES}")
        if self._pubsub is None:
            raise NotStartedError("publish before run() started the host")
        if topic not in self._pubsub.topic_validators:
            self._pubsub.set_topic_validator(topic, self._validate, False)
        await self._pubsub.publish(topic, data)

    async def subscribe(self, topic: str) -> trio.MemoryReceiveChannel[tuple[PeerIdStr, bytes]]:
        """A bounded channel of (sender peer id, data); our own messages are not delivered."""
        if self._pubsub is None or self._nursery is None:
            raise NotStartedError("subscribe before run() started the host")
        if topic in self._receivers:
            return self._receivers[topic].clone()
        self._pubsub.set_topic_validator(topic, self._validate, False)
        subscription = await self._pubsub.subscribe(topic)
        send, recv = trio.open_memory_channel[tuple[PeerIdStr, bytes]](
            self.config.subscription_capacity)
        self._receivers[topic] = recv
        self._nursery.start_soon(self._pump, subscription, send)
        return recv

    async def _pump(self, subscription: Any,
                    send: trio.MemorySendChannel[tuple[PeerIdStr, bytes]]) -> None:
        # Drains libp2p's 32-deep queue at once; our bounded channel is the edge.
        async with send:
            while True:
                msg = await subscription.get()
                source = bytes(msg.from_id)
                if source == self._self_bytes:
                    continue
                # The validator admitted only members: their base58 is already known.
                sender = self._allowed_bytes.get(source) or PeerIdStr(ID(source).to_base58())
                try:
                    send.send_nowait((sender, bytes(msg.data)))
                except trio.WouldBlock:
                    self.metrics(EV_GOSSIP_DROPPED, R_QUEUE_FULL)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                else:
                    self.metrics(EV_DELIVERED, R_OK)

    # -- request/response ---------------------------------------------------------------
    def set_request_handler(self, protocol: str, handler: RequestHandler) -> None:
        """Serve ``protocol`` requests from allow-listed peers with ``handler``."""
        self._handlers[protocol] = handler
        if self._host is not None:
            self._register(protocol)

    def _register(self, protocol: str) -> None:
        async def on_stream(stream: Any) -> None:
            await streams.serve_stream(self, protocol, stream)

        self._host.set_stream_handler(TProtocol(protocol), on_stream)

    def handler_for(self, protocol: str) -> RequestHandler | None:
        """The registered handler of ``protocol`` (used by the stream server)."""
        return self._handlers.get(protocol)

    @property
    def limiter(self) -> trio.CapacityLimiter:
        """Bounds concurrently served requests."""
        return self._limiter

    @property
    def serve_timeout(self) -> float:
        """Seconds a peer has to send its request and the handler has to answer."""
        return self.config.serve_timeout

    async def request(self, peer: PeerIdStr, protocol: str, data: bytes,
                      timeout: float = 5.0) -> bytes:
        """Send one request on a direct stream and return the response (typed errors)."""
        if self._host is None:
            raise NotStartedError("request before run() started the host")
        if peer in self._addrs and peer in self.allow:
            self._host.get_peerstore().add_addrs(
                ID.from_base58(peer), [multiaddr.Multiaddr(a) for a in self._addrs[peer]], 600)
        return await streams.request(self, self._host, peer, protocol, data, timeout)


def _check_port_free(host: str, port: int) -> None:
    """Refuse a listen port another process holds (py-libp2p would only log it and run deaf).

    A bind with ``SO_REUSEADDR`` (as trio's listeners use) fails only on a live listener;
    the check and the host's own bind race, so the host re-checks its addresses after start.
    """
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise P2PError(f"p2p.listen: cannot listen on {host}:{port}: "
                           f"{err.strerror or err}") from err
