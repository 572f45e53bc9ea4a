"""The sequencer's and harness's blocking EVM client: calls, signed transactions, receipts,
logs, over the tooling's one JSON-RPC client (``deploy.rpc.BlockingRpc``).

The node uses the trio-native ``oracle_node.chain`` client; the testnet sequencer and
harness are synchronous tooling (threads), so they use this one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from deploy.errors import RpcError
from deploy.rpc import BlockingRpc, GasMargin
from testnet.harness.errors import ChainCallError

GAS_MARGIN = GasMargin(12, 10, 30_000)
"""Gas limit of an estimated transaction: ``estimate * 1.2 + 30k``."""


def hexint(value: object) -> int:
    """Parse a JSON-RPC hex quantity."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ChainCallError(f"malformed quantity {value!r}")
    return int(value, 16)


def hexbytes(value: object) -> bytes:
    """Parse JSON-RPC hex data."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ChainCallError(f"malformed data {str(value)[:80]!r}")
    return bytes.fromhex(value[2:])


def _topic(value: object) -> object:
    """A topic filter entry: None (any), bytes (exact) or a list of bytes (any of)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return ["0x" + bytes(v).hex() for v in value]
    raise ChainCallError(f"bad topic filter {value!r}")


@dataclass(frozen=True)
class TxResult:
    """The outcome of one mined transaction."""

    tx_hash: bytes
    status: int
    gas_used: int
    block_number: int
    logs: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class RawLog:
    """One log from ``eth_getLogs`` / a receipt."""

    address: str
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    tx_hash: bytes


@contextlib.contextmanager
def _chain_errors() -> Iterator[None]:
    """Re-raise the RPC client's errors as the harness's ChainCallError."""
    try:
        yield
    except RpcError as err:
        raise ChainCallError(str(err)) from err


class EvmClient:
    """The harness's face of :class:`deploy.rpc.BlockingRpc` for one chain: pooled
    connections, thread-safe nonce counting per sender, ChainCallError on any failure."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url
        self._rpc = BlockingRpc(url, timeout=timeout, http=httpx.Client(timeout=timeout),
                                gas_margin=GAS_MARGIN, track_nonces=True)

    def close(self) -> None:
        """Close the connection pool."""
        self._rpc.close()

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        """One JSON-RPC call; raise ChainCallError on a transport or remote error."""
        with _chain_errors():
            return self._rpc.call(method, params)

    @property
    def chain_id(self) -> int:
        """``eth_chainId`` (cached)."""
        with _chain_errors():
            return self._rpc.chain_id()

    def block_number(self) -> int:
        """``eth_blockNumber``."""
        return hexint(self.rpc("eth_blockNumber"))

    def balance(self, address: str) -> int:
        """``eth_getBalance`` at latest."""
        return hexint(self.rpc("eth_getBalance", [address, "latest"]))

    def call(self, to: str, data: bytes, *, sender: str | None = None) -> bytes:
        """``eth_call`` at latest."""
        with _chain_errors():
            return self._rpc.eth_call(to, data, sender=sender)

    def get_logs(self, address: str, topics: list[Any], from_block: int,
                 to_block: int | str = "latest") -> list[RawLog]:
        """``eth_getLogs`` over an inclusive range."""
        to = to_block if isinstance(to_block, str) else hex(to_block)
        raw = self.rpc("eth_getLogs", [{"address": address, "fromBlock": hex(from_block),
                                         "toBlock": to,
                                         "topics": [_topic(t) for t in topics]}])
        return [RawLog(entry["address"], tuple(hexbytes(t) for t in entry["topics"]),
                       hexbytes(entry["data"]), hexint(entry["blockNumber"]),
                       hexbytes(entry["transactionHash"])) for entry in raw]

    def send(self, private_key: str, *, to: str | None, data: bytes = b"", value: int = 0,
             gas: int | None = None, wait: bool = True, timeout: float = 60.0) -> TxResult:
        """Sign and send a transaction from ``private_key``; wait for its receipt.

        Raises ChainCallError if the call would revert (gas estimation) or the mined
        transaction failed, with the revert reason when there is one.
        """
        with _chain_errors():
            tx_hash = self._rpc.send_transaction(private_key, to=to, data=data, value=value,
                                                 gas=gas)
        if not wait:
            return TxResult(tx_hash, -1, 0, -1, ())
        return self.wait_receipt(tx_hash, timeout=timeout)

    def wait_receipt(self, tx_hash: bytes, *, timeout: float = 60.0) -> TxResult:
        """Poll for the receipt; raise ChainCallError if it failed or never arrived."""
        with _chain_errors():
            receipt = self._rpc.wait_receipt(tx_hash, timeout=timeout)
        return TxResult(tx_hash, hexint(receipt["status"]), hexint(receipt.get("gasUsed")),
                        hexint(receipt.get("blockNumber")), tuple(receipt.get("logs") or ()))
