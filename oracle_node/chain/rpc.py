"""One JSON-RPC endpoint as a trio-native ``ChainRpc``.

``RpcClient`` speaks JSON-RPC over a pluggable transport (an async function from a request
object to the decoded answer): ``HttpTransport`` (``httpx.AsyncClient``, works under trio
through anyio) for real nodes, or the in-memory fake chain. Every field of an answer is
validated; anything malformed raises ``RpcResponseError`` (the caller counts it).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import trio

from oracle_node.chain.errors import (
    RpcRemoteError,
    RpcResponseError,
    RpcTimeout,
    RpcTransportError,
)
from oracle_node.ports import BlockHeader, LogEntry, Receipt

JsonTransport = Callable[[dict[str, Any]], Awaitable[Any]]
"""Sends one JSON-RPC request object and returns the decoded JSON answer."""


class HttpTransport:
    """JSON-RPC over HTTP with one pooled ``httpx.AsyncClient`` (close with :meth:`aclose`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        # The deadline is a trio cancel scope at the call site; httpx's own timeout is a backstop.
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(60.0))

    async def __call__(self, payload: dict[str, Any]) -> Any:
        """POST ``payload`` and return the decoded JSON body."""
        try:
            resp = await self._client.post(self.url, json=payload)
        except httpx.TimeoutException as err:
            raise RpcTimeout(f"{self.url}: {err!r}") from err
        except httpx.HTTPError as err:
            raise RpcTransportError(f"{self.url}: {err!r}") from err
        if resp.status_code != 200:
            raise RpcTransportError(f"{self.url}: HTTP {resp.status_code}")
        try:
            return resp.json()
        except ValueError as err:
            raise RpcResponseError(f"{self.url}: body is not JSON") from err

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()


_QUANTITY = re.compile(r"0x[0-9a-fA-F]+")
_DATA = re.compile(r"0x(?:[0-9a-fA-F]{2})*")


def quantity(value: object, what: str = "quantity") -> int:
    """Parse a JSON-RPC hex quantity (``0x1a``) or raise ``RpcResponseError``.

    Only ``0x`` and hex digits: Python's ``int(_, 16)`` alone would accept ``0x1_0`` or
    surrounding whitespace.
    """
    if not isinstance(value, str) or _QUANTITY.fullmatch(value) is None:
        raise RpcResponseError(f"malformed {what}: {value!r:.80}")
    return int(value, 16)


def data(value: object, what: str = "data", length: int | None = None) -> bytes:
    """Parse JSON-RPC hex data (``0x…``, even length, optionally exactly ``length`` bytes)."""
    if not isinstance(value, str) or _DATA.fullmatch(value) is None:
        raise RpcResponseError(f"malformed {what}: {value!r:.80}")
    raw = bytes.fromhex(value[2:])
    if length is not None and len(raw) != length:
        raise RpcResponseError(f"{what} has {len(raw)} bytes, expected {length}")
    return raw


def block_id(block: int | str) -> str:
    """Encode a block number or tag as a JSON-RPC block parameter."""
    return hex(block) if isinstance(block, int) else block


def parse_header(obj: object) -> BlockHeader | None:
    """Decode an ``eth_getBlockBy*`` answer (``None`` stays ``None``)."""
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise RpcResponseError(f"block is not an object: {obj!r:.80}")
    base_fee = obj.get("baseFeePerGas")
    return BlockHeader(
        number=quantity(obj.get("number"), "block number"),
        hash=data(obj.get("hash"), "block hash", 32),
        parent_hash=data(obj.get("parentHash"), "parent hash", 32),
        timestamp=quantity(obj.get("timestamp"), "timestamp"),
        base_fee_per_gas=None if base_fee is None else quantity(base_fee, "base fee"),
    )


def parse_log(obj: object) -> LogEntry:
    """Decode one log object of ``eth_getLogs`` or a receipt."""
    if not isinstance(obj, dict):
        raise RpcResponseError(f"log is not an object: {obj!r:.80}")
    topics = obj.get("topics")
    if not isinstance(topics, list):
        raise RpcResponseError("log topics is not a list")
    address = obj.get("address")
    if not isinstance(address, str) or len(data(address, "log address")) != 20:
        raise RpcResponseError(f"malformed log address {address!r}")
    return LogEntry(
        address=address.lower(),
        topics=tuple(data(t, "topic", 32) for t in topics),
        data=data(obj.get("data"), "log data"),
        block_number=quantity(obj.get("blockNumber"), "log block number"),
        block_hash=data(obj.get("blockHash"), "log block hash", 32),
        transaction_hash=data(obj.get("transactionHash"), "log tx hash", 32),
        log_index=quantity(obj.get("logIndex"), "log index"),
        removed=_flag(obj.get("removed", False), "log removed"),
    )


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise RpcResponseError(f"{what}: expected a JSON boolean, got {value!r}")
    return value


def parse_receipt(obj: object) -> Receipt | None:
    """Decode an ``eth_getTransactionReceipt`` answer."""
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise RpcResponseError("receipt is not an object")
    logs = obj.get("logs", [])
    if not isinstance(logs, list):
        raise RpcResponseError("receipt logs is not a list")
    return Receipt(
        transaction_hash=data(obj.get("transactionHash"), "tx hash", 32),
        block_number=quantity(obj.get("blockNumber"), "receipt block"),
        block_hash=data(obj.get("blockHash"), "receipt block hash", 32),
        status=quantity(obj.get("status"), "status"),
        gas_used=quantity(obj.get("gasUsed"), "gas used"),
        effective_gas_price=quantity(obj.get("effectiveGasPrice"), "gas price"),
        logs=tuple(parse_log(entry) for entry in logs),
    )


class RpcClient:
    """``ChainRpc`` over one endpoint: typed answers, per-call deadline, no retries (see pool)."""

    def __init__(self, transport: JsonTransport, *, name: str, timeout: float = 5.0) -> None:
        self.transport = transport
        self.name = name
        self.timeout = timeout
        self._ids = itertools.count(1)

    async def request(self, method: str, params: Sequence[object] = ()) -> Any:
        """Send one JSON-RPC call under the client deadline and return its ``result``."""
        req_id = next(self._ids)
        payload = {"jsonrpc": "2.0", "id": req_id, "method": method, "params": list(params)}
        with trio.move_on_after(self.timeout) as scope:
            answer = await self.transport(payload)
        if scope.cancelled_caught:
            raise RpcTimeout(f"{self.name}: {method} took longer than {self.timeout}s")
        if not isinstance(answer, dict) or answer.get("id") != req_id:
            raise RpcResponseError(f"{self.name}: {method}: not a JSON-RPC answer: {answer!r:.80}")
        if "error" in answer:
            err = answer["error"]
            if not isinstance(err, dict) or not isinstance(err.get("code"), int):
                raise RpcResponseError(f"{self.name}: {method}: malformed error {err!r:.80}")
            raise RpcRemoteError(err["code"], str(err.get("message", "")), err.get("data"))
        if "result" not in answer:
            raise RpcResponseError(f"{self.name}: {method}: answer without result")
        return answer["result"]

    async def chain_id(self) -> int:
        """``eth_chainId``."""
        return quantity(await self.request("eth_chainId"), "chain id")

    async def block_number(self) -> int:
        """``eth_blockNumber``."""
        return quantity(await self.request("eth_blockNumber"), "block number")

    async def get_block(self, block: int | str) -> BlockHeader | None:
        """``eth_getBlockByNumber`` (header only)."""
        return parse_header(await self.request("eth_getBlockByNumber", [block_id(block), False]))

    async def get_block_by_hash(self, block_hash: bytes) -> BlockHeader | None:
        """``eth_getBlockByHash`` (header only)."""
        return parse_header(
            await self.request("eth_getBlockByHash", ["0x" + block_hash.hex(), False]))

    async def get_logs(
        self, *, address: str, topics: Sequence[Sequence[bytes] | bytes | None],
        from_block: int, to_block: int,
    ) -> list[LogEntry]:
        """``eth_getLogs`` over an inclusive block range."""
        enc: list[object] = []
        for topic in topics:
            if topic is None:
                enc.append(None)
            elif isinstance(topic, bytes):
                enc.append("0x" + topic.hex())
            else:
                enc.append(["0x" + t.hex() for t in topic])
        flt = {"address": address, "topics": enc,
               "fromBlock": hex(from_block), "toBlock": hex(to_block)}
        result = await self.request("eth_getLogs", [flt])
        if not isinstance(result, list):
            raise RpcResponseError(f"{self.name}: eth_getLogs result is not a list")
        return [parse_log(entry) for entry in result]

    async def call(self, *, to: str, data: bytes, block: int | str = "latest") -> bytes:
        """``eth_call``."""
        result = await self.request(
            "eth_call", [{"to": to, "data": "0x" + data.hex()}, block_id(block)])
        return _data(result, "call result")

    async def get_transaction_count(self, address: str, block: int | str = "pending") -> int:
        """``eth_getTransactionCount``."""
        return quantity(
            await self.request("eth_getTransactionCount", [address, block_id(block)]), "nonce")

    async def send_raw_transaction(self, raw: bytes) -> bytes:
        """``eth_sendRawTransaction``; returns the transaction hash."""
        result = await self.request("eth_sendRawTransaction", ["0x" + raw.hex()])
        return _data(result, "tx hash", 32)

    async def get_transaction_receipt(self, tx_hash: bytes) -> Receipt | None:
        """``eth_getTransactionReceipt``; None while pending."""
        return parse_receipt(
            await self.request("eth_getTransactionReceipt", ["0x" + tx_hash.hex()]))

    async def estimate_gas(self, tx: dict[str, Any]) -> int:
        """``eth_estimateGas`` (``tx`` in JSON-RPC form)."""
        return quantity(await self.request("eth_estimateGas", [tx]), "gas")

    async def fee_suggestion(self) -> tuple[int, int]:
        """(max_fee, priority_fee): 2 × latest base fee + ``eth_maxPriorityFeePerGas``."""
        head = await self.get_block("latest")
        if head is None:
            raise RpcResponseError(f"{self.name}: no latest block")
        prio = quantity(await self.request("eth_maxPriorityFeePerGas"), "priority fee")
        return 2 * (head.base_fee_per_gas or 0) + prio, prio


_data = data
