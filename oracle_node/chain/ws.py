"""Optional fast path: ``eth_subscribe("newHeads")`` over WebSocket (trio-websocket).

Each new head's number is pushed into the watcher's ``wake`` channel with ``send_nowait``
(a full channel drops the wake-up and counts it: the watcher polls anyway). Polling works
without this component; it only cuts the event-to-emit latency to about one round trip.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from oracle_node.chain.rpc import quantity
from oracle_node.errors import ChainError
from oracle_node.ports import MetricsSink, discard_metrics

if TYPE_CHECKING:
    from trio import TaskStatus


class NewHeadsSubscriber:
    """Keeps one newHeads subscription open (reconnecting) and wakes the watcher."""

    def __init__(self, *, url: str, wake: trio.MemorySendChannel[int],
                 metrics: MetricsSink = discard_metrics, reconnect_delay: float = 1.0) -> None:
        self.url = url
        self.wake = wake
        self.metrics = metrics
        self.reconnect_delay = reconnect_delay

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Subscribe, forward head numbers, reconnect after any failure; forever."""
        task_status.started()
        while True:
            try:
                await self._session()
            except (OSError, HandshakeError, ConnectionClosed, ChainError, ValueError) as err:
                self.metrics("ws_error", type(err).__name__)
            await trio.sleep(self.reconnect_delay)

    async def _session(self) -> None:
        async with open_websocket_url(self.url) as ws:
            await ws.send_message(json.dumps({"jsonrpc": "2.0", "id": 1,
                                              "method": "eth_subscribe",
                                              "params": ["newHeads"]}))
            while True:
                message = json.loads(await ws.get_message())
                if not isinstance(message, dict) or message.get("method") != "eth_subscription":
                    continue
                params = message.get("params")
                result = params.get("result") if isinstance(params, dict) else None
                if not isinstance(result, dict):
                    self.metrics("ws_error", "malformed")
                    continue
                try:
                    head = quantity(result.get("number"), "head number")
                except ChainError:  # one bad notification; the subscription itself is fine
                    self.metrics("ws_error", "malformed")
                    continue
                try:
                    self.wake.send_nowait(head)
                except trio.WouldBlock:
                    self.metrics("ws_drop", "wake_full")
