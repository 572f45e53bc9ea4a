"""The one blocking JSON-RPC client of the tooling, with its transaction helper.

The deployer, the governance CLI, the gate tools, the testnet sequencer and harness and the
anvil helper all talk to chains through :class:`BlockingRpc` (the node never imports it: it
uses the trio-native ``oracle_node.chain``). Every failure is a :class:`JsonRpcError` that
names the method and carries the JSON-RPC error code, message and data; an error whose data
is a revert payload is a :class:`JsonRpcRevertError` (a ``ContractRevertError`` with the
decoded ``Error(string)`` reason), and a mined transaction that failed raises
:class:`TransactionRevertedError` (reason recovered by replaying the transaction).

Two transports: without ``http`` each call is one ``urllib`` request on a fresh connection
(nothing to close); with an ``httpx.Client`` the calls share its connection pool (thread-safe;
:meth:`BlockingRpc.close` closes it).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from eth_utils.address import to_checksum_address

from deploy.bindings import decode_revert_reason
from deploy.errors import ContractRevertError, RpcError

PRIORITY_FEE = 10**9
"""Tip of every transaction (wei per gas); the fee cap is ``2 * eth_gasPrice + PRIORITY_FEE``."""
RECEIPT_POLL = 0.05
"""Seconds between two receipt polls."""


class JsonRpcError(RpcError):
    """A JSON-RPC call failed: transport error, malformed answer or an ``error`` object.

    ``method`` is the call, ``code``/``message``/``data`` the error object's fields (None,
    None and empty when the call never got one, e.g. a refused connection or a timeout).
    """

    def __init__(self, method: str, url: str, detail: str, *, code: int | None = None,
                 message: str | None = None, data: bytes = b"") -> None:
        RpcError.__init__(self, f"{method} at {url} failed: {detail}")
        self.method = method
        self.url = url
        self.code = code
        self.message = message
        self.data = data


class JsonRpcRevertError(JsonRpcError, ContractRevertError):
    """A call reverted (the error object carries revert data); ``reason`` is the decoded
    ``Error(string)`` (a Vyper ``raise "Name"``), None for any other payload."""

    def __init__(self, method: str, url: str, detail: str, *, code: int | None,
                 message: str | None, data: bytes) -> None:
        self.reason = decode_revert_reason(data)
        JsonRpcError.__init__(self, method, url, f"{detail} (reason: {self.reason})",
                              code=code, message=message, data=data)


class TransactionRevertedError(ContractRevertError):
    """A mined transaction failed (status 0); ``receipt`` is the raw JSON-RPC receipt and
    ``reason`` the revert string found by replaying it on the latest state (None if unknown)."""

    def __init__(self, tx_hash: bytes, reason: str | None, receipt: dict[str, Any]) -> None:
        super().__init__(reason, b"", f"transaction 0x{tx_hash.hex()} reverted")
        self.tx_hash = tx_hash
        self.receipt = receipt


@dataclass(frozen=True)
class GasMargin:
    """Gas limit from an ``eth_estimateGas`` answer: ``estimate * num // den + extra``."""

    num: int = 5
    den: int = 4
    extra: int = 20_000

    def limit(self, estimate: int) -> int:
        """The gas limit to sign for ``estimate``."""
        return estimate * self.num // self.den + self.extra


def _quantity(method: str, url: str, value: object) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise JsonRpcError(method, url, f"malformed quantity {str(value)[:80]!r}")
    try:
        return int(value, 16)
    except ValueError as err:
        raise JsonRpcError(method, url, f"malformed quantity {value[:80]!r}") from err


def _data(method: str, url: str, value: object) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise JsonRpcError(method, url, f"malformed data {str(value)[:80]!r}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as err:
        raise JsonRpcError(method, url, f"malformed data {value[:80]!r}") from err


class BlockingRpc:
    """Blocking JSON-RPC client of one endpoint, with signed EIP-1559 transactions.

    ``timeout`` bounds each call (seconds). ``gas_margin`` turns gas estimates into limits.
    With ``track_nonces`` the client counts each sender's nonces itself (thread-safe; one
    ``pending`` query per sender, resynchronised after a failed send) so that several
    threads can send from one key; otherwise every transaction asks for the ``pending``
    nonce (right after an ``evm_revert``, say).
    """

    def __init__(self, url: str, *, timeout: float = 30.0, http: httpx.Client | None = None,
                 gas_margin: GasMargin = GasMargin(), track_nonces: bool = False) -> None:
        self.url = url
        self.timeout = timeout
        self.gas_margin = gas_margin
        self._http = http
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._track_nonces = track_nonces
        self._nonces: dict[str, int] = {}
        self._chain_id: int | None = None

    def close(self) -> None:
        """Close the ``httpx`` connection pool, if any."""
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> BlockingRpc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, body: dict[str, Any], timeout: float) -> Any:
        if self._http is not None:
            return self._http.post(self.url, json=body, timeout=timeout).json()
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def call(self, method: str, params: Sequence[Any] | None = None, *,
             timeout: float | None = None) -> Any:
        """One JSON-RPC call; return its ``result``.

        Raises JsonRpcRevertError for an error with revert data, JsonRpcError for any other
        error object, a transport failure or an answer that is not a JSON-RPC response.
        """
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                "params": list(params or [])}
        try:
            answer = self._post(body, self.timeout if timeout is None else timeout)
        except (OSError, ValueError, httpx.HTTPError) as err:
            raise JsonRpcError(method, self.url, f"{type(err).__name__}: {err}") from err
        if not isinstance(answer, dict):
            raise JsonRpcError(method, self.url, f"not a JSON-RPC response: {str(answer)[:80]}")
        error = answer.get("error")
        if error is None:
            return answer.get("result")
        code: int | None = None
        message: str | None = None
        raw: object = None
        if isinstance(error, dict):
            code = error["code"] if isinstance(error.get("code"), int) else None
            message = str(error.get("message", ""))
            raw = error.get("data")
        if isinstance(raw, str) and raw.startswith("0x"):
            try:
                data = bytes.fromhex(raw[2:])
            except ValueError:
                pass
            else:
                raise JsonRpcRevertError(method, self.url, f"{error}", code=code,
                                         message=message, data=data)
        raise JsonRpcError(method, self.url, f"{error}", code=code, message=message)

    def quantity(self, method: str, params: Sequence[Any] | None = None) -> int:
        """A call whose result is a hex quantity (JsonRpcError if it is not one)."""
        return _quantity(method, self.url, self.call(method, params))

    def chain_id(self) -> int:
        """``eth_chainId`` (asked once, then cached)."""
        if self._chain_id is None:
            self._chain_id = self.quantity("eth_chainId")
        return self._chain_id

    def code(self, address: str) -> bytes:
        """Runtime code at ``address`` (empty for none)."""
        return _data("eth_getCode", self.url, self.call("eth_getCode", [address, "latest"]))

    def eth_call(self, to: str, data: bytes, *, sender: str | None = None,
                 block: str = "latest") -> bytes:
        """``eth_call`` at ``block``."""
        tx: dict[str, str] = {"to": to, "data": "0x" + data.hex()}
        if sender:
            tx["from"] = sender
        return _data("eth_call", self.url, self.call("eth_call", [tx, block]))

    def _next_nonce(self, address: str) -> int:
        if not self._track_nonces:
            return self.quantity("eth_getTransactionCount", [address, "pending"])
        with self._lock:
            if address not in self._nonces:
                self._nonces[address] = self.quantity("eth_getTransactionCount",
                                                      [address, "pending"])
            nonce = self._nonces[address]
            self._nonces[address] = nonce + 1
            return nonce

    def send_transaction(self, private_key: str, *, to: str | None, data: bytes = b"",
                         value: int = 0, gas: int | None = None) -> bytes:
        """Sign (EIP-1559) and send a transaction from ``private_key``; return its hash.

        Without ``gas`` the limit comes from ``eth_estimateGas`` through ``gas_margin``, so a
        transaction that would revert raises JsonRpcRevertError before anything is sent.
        """
        from eth_account import Account  # heavy import, only for senders

        account = Account.from_key(private_key)
        if gas is None:
            est: dict[str, Any] = {"from": account.address, "value": hex(value),
                                   "data": "0x" + data.hex()}
            if to is not None:
                est["to"] = to
            gas = self.gas_margin.limit(self.quantity("eth_estimateGas", [est]))
        nonce = self._next_nonce(account.address)
        try:
            signed = Account.sign_transaction({
                "type": 2, "chainId": self.chain_id(), "nonce": nonce, "gas": gas,
                "value": value, "data": data,
                "maxFeePerGas": self.quantity("eth_gasPrice") * 2 + PRIORITY_FEE,
                "maxPriorityFeePerGas": PRIORITY_FEE,
                **({"to": to_checksum_address(to)} if to is not None else {}),
            }, private_key)
            return _data("eth_sendRawTransaction", self.url, self.call(
                "eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()]))
        except Exception:
            with self._lock:  # the nonce may not have been used: ask the chain next time
                self._nonces.pop(account.address, None)
            raise

    def wait_receipt(self, tx_hash: bytes, *, timeout: float = 60.0) -> dict[str, Any]:
        """Poll for the receipt of ``tx_hash`` and return it (raw JSON-RPC form).

        Raises TransactionRevertedError if the transaction failed, JsonRpcError if no
        receipt arrived within ``timeout`` seconds.
        """
        hash_hex = "0x" + tx_hash.hex()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            receipt = self.call("eth_getTransactionReceipt", [hash_hex])
            if isinstance(receipt, dict):
                if _quantity("eth_getTransactionReceipt", self.url, receipt.get("status")) != 1:
                    raise TransactionRevertedError(tx_hash, self.revert_reason(tx_hash),
                                                   receipt)
                return receipt
            time.sleep(RECEIPT_POLL)
        raise JsonRpcError("eth_getTransactionReceipt", self.url,
                           f"no receipt for {hash_hex} within {timeout}s")

    def transact(self, private_key: str, *, to: str | None, data: bytes = b"", value: int = 0,
                 gas: int | None = None, timeout: float = 60.0) -> dict[str, Any]:
        """:meth:`send_transaction` then :meth:`wait_receipt`; return the receipt."""
        tx_hash = self.send_transaction(private_key, to=to, data=data, value=value, gas=gas)
        return self.wait_receipt(tx_hash, timeout=timeout)

    def revert_reason(self, tx_hash: bytes) -> str | None:
        """Replay a mined transaction as an ``eth_call`` on the latest state and return its
        revert string (best effort: None if it does not revert now or has no string)."""
        try:
            tx = self.call("eth_getTransactionByHash", ["0x" + tx_hash.hex()])
            call = {key: tx[src] for key, src in (("from", "from"), ("to", "to"),
                                                  ("data", "input"), ("value", "value"),
                                                  ("gas", "gas")) if tx.get(src) is not None}
            self.call("eth_call", [call, "latest"])
        except JsonRpcRevertError as err:
            return err.reason
        except (RpcError, TypeError, AttributeError, KeyError):
            return None
        return None
