"""Names, limits, the allow-list and the request check shared by the libp2p host and the fake.

Both transports implement the same semantics, so the rules live here once:

* **topics** are per network: ``/zklink-oracle/<network_id>/<kind>/1``;
* **request protocols** likewise: ``/zklink-oracle/<network_id>/req/1``;
* **allow-list**: only current cluster members may connect, publish or request;
* **drops** are counted through a :class:`~oracle_node.ports.MetricsSink` with one stable
  reason each (``sink(event, reason)``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Final

from oracle_node.p2p.errors import PayloadTooLarge, PeerNotAllowed, RequestError
from oracle_node.p2p.wire import MAX_MESSAGE_BYTES
from oracle_node.ports import MetricsSink
from oracle_node.types import PeerIdStr

TOPIC_PARTIALS: Final = "partials"
TOPIC_CEREMONY: Final = "ceremony"
DEFAULT_SUBSCRIPTION_CAPACITY: Final = 256
"""Bound of each subscription channel handed to a component (edge: drop and count)."""
MAX_REQUEST_BYTES: Final = MAX_MESSAGE_BYTES
MAX_RESPONSE_BYTES: Final = 4 * MAX_MESSAGE_BYTES
"""A response may bundle several wire messages (e.g. every partial of a block)."""

# Metric events (first label) and reasons (second label).
EV_GOSSIP_REJECTED: Final = "gossip_rejected"
EV_GOSSIP_DROPPED: Final = "gossip_dropped"
EV_CONNECTION_REFUSED: Final = "connection_refused"
EV_REQUEST_REJECTED: Final = "request_rejected"
EV_REQUEST_FAILED: Final = "request_failed"
EV_REQUEST_RETRIED: Final = "request_retried"
EV_DELIVERED: Final = "gossip_delivered"
EV_REQUEST_SERVED: Final = "request_served"

R_NOT_MEMBER: Final = "not_member"
R_TOO_LARGE: Final = "too_large"
R_MULTI_TOPIC: Final = "multi_topic"
R_QUEUE_FULL: Final = "queue_full"
R_NO_HANDLER: Final = "no_handler"
R_HANDLER_ERROR: Final = "handler_error"
R_BAD_FRAME: Final = "bad_frame"
R_TIMEOUT: Final = "timeout"
R_OK: Final = "ok"


def topic_name(network_id: int, kind: str = TOPIC_PARTIALS) -> str:
    """The GossipSub topic of ``kind`` messages on network ``network_id``."""
    return f"/zklink-oracle/{network_id}/{kind}/1"


def request_protocol(network_id: int) -> str:
    """The request/response stream protocol id of network ``network_id``."""
    return f"/zklink-oracle/{network_id}/req/1"


class AllowList:
    """The current set of cluster members' peer ids (replaced on signer-set rotations)."""

    def __init__(self, peers: Iterable[PeerIdStr]) -> None:
        self._peers: frozenset[PeerIdStr] = frozenset(peers)
        self.version = 0

    def __contains__(self, peer: object) -> bool:
        return peer in self._peers

    @property
    def peers(self) -> frozenset[PeerIdStr]:
        """The members as an immutable set."""
        return self._peers

    def replace(self, peers: Iterable[PeerIdStr]) -> frozenset[PeerIdStr]:
        """Install a new member set; returns the peers that were removed."""
        new = frozenset(peers)
        removed = self._peers - new
        self._peers = new
        self.version += 1
        return removed


async def checked_request(allow: AllowList, metrics: MetricsSink, peer: PeerIdStr, data: bytes,
                          exchange: Callable[[], Awaitable[bytes]]) -> bytes:
    """The client side of a request, the same in both transports: refuse a payload above
    ``MAX_REQUEST_BYTES`` (``PayloadTooLarge``) and a peer off the allow-list
    (``PeerNotAllowed``), run ``exchange`` and count every ``RequestError`` under
    ``EV_REQUEST_FAILED`` with its reason before re-raising it."""
    if len(data) > MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"{len(data)} bytes > {MAX_REQUEST_BYTES}")
    try:
        if peer not in allow:
            raise PeerNotAllowed(f"{peer} is not a member")
        return await exchange()
    except RequestError as err:
        metrics(EV_REQUEST_FAILED, err.reason)
        raise
