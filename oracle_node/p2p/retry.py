"""Requests with retries over any ``Transport`` (the libp2p host or the fake).

Gossip is best-effort; what must arrive (missing partials, DKG messages) is fetched or sent
on direct streams and retried here with a growing pause on transient failures.
"""

from __future__ import annotations

import trio

from oracle_node.p2p.common import EV_REQUEST_RETRIED
from oracle_node.p2p.errors import (
    BadResponse,
    PeerUnreachable,
    RequestError,
    RequestTimeout,
)
from oracle_node.ports import MetricsSink, Transport, discard_metrics
from oracle_node.types import PeerIdStr

TRANSIENT: tuple[type[RequestError], ...] = (RequestTimeout, PeerUnreachable, BadResponse)
"""Failures worth another attempt; a refusal or a non-member target is final."""


async def request_with_retries(
    transport: Transport, peer: PeerIdStr, protocol: str, data: bytes, *,
    attempts: int = 3, timeout: float = 2.0, backoff: float = 0.25,
    metrics: MetricsSink = discard_metrics,
) -> bytes:
    """``transport.request`` up to ``attempts`` times; re-raises the last failure.

    Each failure is counted by the transport itself; retries are counted here as
    ``request_retried``. The pause after failed attempt k (1-based) is
    ``backoff * 2**(k-1)`` seconds (trio time, so it runs under ``MockClock``).
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    for attempt in range(1, attempts + 1):
        try:
            return await transport.request(peer, protocol, data, timeout=timeout)
        except TRANSIENT as err:
            if attempt == attempts:
                raise
            metrics(EV_REQUEST_RETRIED, err.reason)
            await trio.sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover
