"""A small blocking EVM client for tooling: calls, signed transactions, receipts, logs.

The node uses the trio-native ``oracle_node.chain`` client; the testnet sequencer and
harness are synchronous tooling (threads), so they use this one (httpx, eth_account).
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from eth_account import Account
from eth_utils.address import to_checksum_address

from testnet.harness.errors import ChainCallError


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


class EvmClient:
    """Blocking JSON-RPC client for one chain; thread-safe nonce handling per sender."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url
        self._http = httpx.Client(timeout=timeout)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._nonces: dict[str, int] = {}
        self._chain_id: int | None = None

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        """One JSON-RPC call; raise ChainCallError on a transport or remote error."""
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or []}
        try:
            resp = self._http.post(self.url, json=body)
            answer = resp.json()
        except (httpx.HTTPError, ValueError) as err:
            raise ChainCallError(f"{self.url} {method}: {err!r}") from err
        if "error" in answer:
            raise ChainCallError(f"{self.url} {method}: {answer['error']}")
        return answer.get("result")

    @property
    def chain_id(self) -> int:
        """``eth_chainId`` (cached)."""
        if self._chain_id is None:
            self._chain_id = hexint(self.rpc("eth_chainId"))
        return self._chain_id

    def block_number(self) -> int:
        """``eth_blockNumber``."""
        return hexint(self.rpc("eth_blockNumber"))

    def balance(self, address: str) -> int:
        """``eth_getBalance`` at latest."""
        return hexint(self.rpc("eth_getBalance", [address, "latest"]))

    def call(self, to: str, data: bytes, *, sender: str | None = None) -> bytes:
        """``eth_call`` at latest."""
        tx: dict[str, Any] = {"to": to, "data": "0x" + data.hex()}
        if sender:
            tx["from"] = sender
        return hexbytes(self.rpc("eth_call", [tx, "latest"]))

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
        transaction failed, with the revert reason when the node gives one.
        """
        account = Account.from_key(private_key)
        tx: dict[str, Any] = {"from": account.address, "value": value,
                              "data": "0x" + data.hex()}
        if to is not None:
            tx["to"] = to
        if gas is None:
            est = dict(tx, value=hex(value))
            gas = hexint(self.rpc("eth_estimateGas", [est])) * 12 // 10 + 30_000
        with self._lock:
            if account.address not in self._nonces:
                self._nonces[account.address] = hexint(
                    self.rpc("eth_getTransactionCount", [account.address, "pending"]))
            nonce = self._nonces[account.address]
            self._nonces[account.address] = nonce + 1
        base = hexint(self.rpc("eth_gasPrice"))
        signed = Account.sign_transaction({
            "chainId": self.chain_id, "nonce": nonce, "gas": gas, "value": value,
            "data": data, "maxFeePerGas": base * 2 + 10**9, "maxPriorityFeePerGas": 10**9,
            "type": 2, **({"to": to_checksum_address(to)} if to is not None else {}),
        }, private_key)
        try:
            tx_hash = hexbytes(self.rpc("eth_sendRawTransaction",
                                        ["0x" + bytes(signed.raw_transaction).hex()]))
        except ChainCallError:
            with self._lock:  # resync the nonce on the next send
                self._nonces.pop(account.address, None)
            raise
        if not wait:
            return TxResult(tx_hash, -1, 0, -1, ())
        return self.wait_receipt(tx_hash, timeout=timeout)

    def wait_receipt(self, tx_hash: bytes, *, timeout: float = 60.0) -> TxResult:
        """Poll for the receipt; raise ChainCallError if it failed or never arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            receipt = self.rpc("eth_getTransactionReceipt", ["0x" + tx_hash.hex()])
            if receipt:
                result = TxResult(tx_hash, hexint(receipt["status"]), hexint(receipt["gasUsed"]),
                                  hexint(receipt["blockNumber"]), tuple(receipt["logs"]))
                if result.status != 1:
                    raise ChainCallError(f"transaction 0x{tx_hash.hex()} reverted")
                return result
            time.sleep(0.05)
        raise ChainCallError(f"no receipt for 0x{tx_hash.hex()} within {timeout}s")
