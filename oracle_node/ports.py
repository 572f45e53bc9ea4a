"""Ports: the small interfaces between components and the outside world.

Real adapters (``oracle_node.chain``, ``oracle_node.p2p``) and in-memory fakes implement
these; components depend only on the Protocols. Adapters count what they drop or reject into
a :class:`MetricsSink` (``oracle_node.metrics`` wires it to prometheus).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from oracle_node.types import PeerIdStr

if TYPE_CHECKING:
    import trio


@dataclass(frozen=True)
class LogEntry:
    """One decoded-enough EVM log as returned by ``eth_getLogs``."""

    address: str
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    block_hash: bytes
    transaction_hash: bytes
    log_index: int
    removed: bool = False


@dataclass(frozen=True)
class BlockHeader:
    """The parts of an EVM block header the node uses."""

    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    base_fee_per_gas: int | None = None


@dataclass(frozen=True)
class Receipt:
    """A transaction receipt (``status`` 1 = success)."""

    transaction_hash: bytes
    block_number: int
    block_hash: bytes
    status: int
    gas_used: int
    effective_gas_price: int
    logs: tuple[LogEntry, ...] = ()


class HeadFeed(Protocol):
    """A source of new-head notifications for one chain (a ``newHeads`` subscription).

    ``oracle_node.chain.ws.NewHeadsSubscriber`` is the production feed (``chains[].ws``);
    ``FakeChain`` is one in the simulator, so its watchers wake like real ones.
    """

    async def feed(self, wake: trio.MemorySendChannel[int]) -> None:
        """Send each new head's number with ``send_nowait`` (drop when full) until cancelled."""
        ...


class ChainRpc(Protocol):
    """Read and write access to one EVM chain (trio-native)."""

    async def chain_id(self) -> int:
        """``eth_chainId``."""
        ...

    async def block_number(self) -> int:
        """``eth_blockNumber``."""
        ...

    async def get_block(self, block: int | str) -> BlockHeader | None:
        """``eth_getBlockByNumber`` for a number or a tag (``latest``, ``finalized``, …)."""
        ...

    async def get_logs(
        self, *, address: str, topics: Sequence[Sequence[bytes] | bytes | None],
        from_block: int, to_block: int,
    ) -> list[LogEntry]:
        """``eth_getLogs`` over an inclusive block range."""
        ...

    async def call(self, *, to: str, data: bytes, block: int | str = "latest") -> bytes:
        """``eth_call``."""
        ...

    async def get_transaction_count(self, address: str, block: int | str = "pending") -> int:
        """``eth_getTransactionCount``."""
        ...

    async def send_raw_transaction(self, raw: bytes) -> bytes:
        """``eth_sendRawTransaction``; returns the transaction hash."""
        ...

    async def get_transaction_receipt(self, tx_hash: bytes) -> Receipt | None:
        """``eth_getTransactionReceipt``; None while pending."""
        ...

    async def estimate_gas(self, tx: dict[str, Any]) -> int:
        """``eth_estimateGas``."""
        ...

    async def fee_suggestion(self) -> tuple[int, int]:
        """(max_fee_per_gas, max_priority_fee_per_gas) suggested for the next block."""
        ...


RequestHandler = Callable[[PeerIdStr, bytes], Awaitable[bytes]]
"""Serves one request/response exchange: (peer, request bytes) -> response bytes."""


class Transport(Protocol):
    """Authenticated messaging between cluster members (libp2p or an in-memory fake)."""

    @property
    def local_peer(self) -> PeerIdStr:
        """This node's peer id."""
        ...

    async def publish(self, topic: str, data: bytes) -> None:
        """Best-effort broadcast of ``data`` to every subscriber of ``topic``."""
        ...

    async def subscribe(self, topic: str) -> Any:
        """Return a trio ``MemoryReceiveChannel[tuple[PeerIdStr, bytes]]`` of (sender, data)."""
        ...

    async def request(self, peer: PeerIdStr, protocol: str, data: bytes,
                      timeout: float = 5.0) -> bytes:
        """Send one request on a direct stream and return the response."""
        ...

    def set_request_handler(self, protocol: str, handler: RequestHandler) -> None:
        """Serve ``protocol`` requests from allow-listed peers with ``handler``."""
        ...

    def connected_peers(self) -> list[PeerIdStr]:
        """Currently connected allow-listed peers."""
        ...

    def set_allowed_peers(self, peers: Iterable[PeerIdStr]) -> None:
        """Replace the allow-list (signer-set rotation); connections of removed peers close."""
        ...


class MetricsSink(Protocol):
    """Where an adapter counts events: ``sink("watcher_drop", "malformed_log")``.

    ``name`` is a stable event name (``rpc_error``, ``gossip_rejected``, …) and ``reason`` one
    stable label value; docs/metrics.md lists both per adapter.
    """

    def __call__(self, name: str, reason: str, amount: int = 1) -> None:
        """Add ``amount`` to event ``name`` with label ``reason``."""
        ...


def discard_metrics(name: str, reason: str, amount: int = 1) -> None:
    """A :class:`MetricsSink` that drops everything (the default when no sink is wired)."""
