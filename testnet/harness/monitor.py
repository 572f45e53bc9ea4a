"""Watch every chain's main contract and record each block's life (for the live view and summary).

The monitor polls ``eth_getLogs`` for ``BlockCommitted``, ``BlockProven``,
``FinalRootConfirmed`` and ``BlockExecuted`` (docs/protocol.md §5) and stamps each event
with the wall-clock time the harness first saw it (poll period 0.05 s). A block's latency
is the time from the last chain's ``BlockProven`` to the last chain's
``FinalRootConfirmed``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode

from deploy.bindings import EVENT_TOPICS, encode_call
from testnet.harness.errors import ChainCallError
from testnet.sequencer.evm import EvmClient, hexint

TOPIC_COMMITTED = EVENT_TOPICS["BlockCommitted"]
TOPIC_PROVEN = EVENT_TOPICS["BlockProven"]
TOPIC_CONFIRMED = EVENT_TOPICS["FinalRootConfirmed"]
TOPIC_EXECUTED = EVENT_TOPICS["BlockExecuted"]
KINDS = {TOPIC_COMMITTED: "committed", TOPIC_PROVEN: "proven", TOPIC_CONFIRMED: "confirmed",
         TOPIC_EXECUTED: "executed"}


def gate_key_and_epoch(client: EvmClient, main: str) -> tuple[bytes, int]:
    """The gate's ``groupKeyCompressed()`` and ``epoch()`` on ``main`` (ChainCallError if a
    call fails)."""
    (key,) = decode(["bytes"], client.call(main, encode_call("groupKeyCompressed")))
    (epoch,) = decode(["uint256"], client.call(main, encode_call("epoch")))
    return bytes(key), int(epoch)


@dataclass
class ChainView:
    """What one chain has done so far."""

    chain_id: int
    url: str
    main: str
    next_from: int = 0
    highest: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS.values(), 0))
    roots: dict[int, bytes] = field(default_factory=dict)          # proved final roots
    confirmed_roots: dict[int, bytes] = field(default_factory=dict)
    confirm_gas: dict[int, int] = field(default_factory=dict)
    seen_at: dict[tuple[str, int], float] = field(default_factory=dict)
    error: str = ""


@dataclass
class BlockRecord:
    """One rollup block across chains (for the summary JSON)."""

    block_number: int
    latency_s: float | None
    last_proven_at: float | None
    last_confirmed_at: float | None
    confirmed_on: list[int]
    executed_on: list[int]
    final_roots_agree: bool
    confirm_gas: dict[int, int]


class ChainMonitor:
    """Polls every chain; :meth:`poll` is cheap enough to call a few times a second."""

    def __init__(self, chains: list[tuple[int, str, str]]) -> None:
        self.views = [ChainView(cid, url, main) for cid, url, main in chains]
        self._clients = {v.chain_id: EvmClient(v.url, timeout=5.0) for v in self.views}

    def close(self) -> None:
        """Close RPC connections."""
        for client in self._clients.values():
            client.close()

    def poll(self) -> None:
        """Fetch new events from every chain; a chain that does not answer records the error."""
        for view in self.views:
            try:
                self._poll_one(view)
                view.error = ""
            except ChainCallError as err:
                view.error = str(err)[:120]

    def _poll_one(self, view: ChainView) -> None:
        client = self._clients[view.chain_id]
        head = client.block_number()
        if head < view.next_from:
            return
        logs = client.get_logs(view.main, [list(KINDS)], view.next_from, head)
        now = time.time()
        for log in logs:
            kind = KINDS.get(log.topics[0])
            if kind is None or len(log.topics) < 2:
                continue
            number = int.from_bytes(log.topics[1], "big")
            view.seen_at.setdefault((kind, number), now)
            view.highest[kind] = max(view.highest[kind], number)
            if kind == "proven" and len(log.data) >= 32:
                view.roots[number] = log.data[:32]
            elif kind == "confirmed" and len(log.data) >= 32:
                view.confirmed_roots[number] = log.data[:32]
                receipt: Any = client.rpc("eth_getTransactionReceipt", ["0x" + log.tx_hash.hex()])
                if receipt:
                    view.confirm_gas[number] = hexint(receipt["gasUsed"])
        view.next_from = head + 1

    def executed_everywhere(self) -> int:
        """The highest block executed on every chain."""
        return min(v.highest["executed"] for v in self.views) if self.views else 0

    def confirmed_everywhere(self) -> int:
        """The highest block confirmed on every chain."""
        return min(v.highest["confirmed"] for v in self.views) if self.views else 0

    def wrong_confirmations(self) -> list[tuple[int, int]]:
        """(chain, block) pairs whose confirmed root differs from that chain's proved root."""
        return [(v.chain_id, n) for v in self.views for n, root in v.confirmed_roots.items()
                if v.roots.get(n) != root]

    def confirmed_at(self, view: ChainView, number: int) -> float | None:
        """When ``number`` became confirmed on ``view``'s chain: its own event, or the first
        event of a later block (a confirmation covers every earlier block)."""
        times = [t for (kind, n), t in view.seen_at.items() if kind == "confirmed" and n >= number]
        return min(times) if times else None

    def record(self, number: int) -> BlockRecord:
        """The cross-chain record of block ``number``."""
        proven = [v.seen_at.get(("proven", number)) for v in self.views]
        confirmed = [self.confirmed_at(v, number) for v in self.views]
        last_proven = max(t for t in proven if t is not None) \
            if all(t is not None for t in proven) and proven else None
        last_conf = max(t for t in confirmed if t is not None) \
            if all(t is not None for t in confirmed) and confirmed else None
        latency = (max(0.0, last_conf - last_proven)
                   if last_proven is not None and last_conf is not None else None)
        roots = {v.roots.get(number) for v in self.views}
        return BlockRecord(
            block_number=number, latency_s=latency, last_proven_at=last_proven,
            last_confirmed_at=last_conf,
            confirmed_on=[v.chain_id for v, t in zip(self.views, confirmed, strict=True)
                          if t is not None],
            executed_on=[v.chain_id for v in self.views if ("executed", number) in v.seen_at],
            final_roots_agree=len(roots) == 1 and None not in roots,
            confirm_gas={v.chain_id: v.confirm_gas[number] for v in self.views
                         if number in v.confirm_gas})

    def last_latency(self) -> float | None:
        """Latency of the newest block confirmed everywhere."""
        top = self.confirmed_everywhere()
        return self.record(top).latency_s if top else None
