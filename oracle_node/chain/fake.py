"""An in-memory EVM chain for tests and the in-process simulator (speaks JSON-RPC objects).

``FakeChain`` is itself a ``ChainRpc`` (an :class:`RpcClient` over its own in-memory
transport), so the real answer parsing is exercised. :meth:`FakeChain.endpoint` gives more
views of the same chain, each with its own injectable :class:`Faults` (hangs, malformed
answers, lying heads, logs or hashes) for failover and quorum tests.

Contracts are Python handlers: ``register_contract(address, handler)`` where
``handler(sender, calldata, value) -> ContractResult(return_data, logs)`` or raises
:class:`FakeRevert`. The handler also serves ``eth_call`` (same signature, logs dropped), so
view selectors must not mutate. Handler state is *not* rolled back by :meth:`reorg`; reorgs
drop blocks, their logs and (unless ``requeue_txs``) their transactions.

Blocks are only mined by :meth:`mine` or the :meth:`run_miner` trio timer. The base fee is
constant unless :meth:`set_base_fee` changes it (no EIP-1559 adjustment is modelled).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio
from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from oracle_node.chain.rpc import RpcClient

if TYPE_CHECKING:
    from trio import TaskStatus


class FakeRevert(Exception):
    """Raised by a fake contract handler to revert the call with ``data``."""

    def __init__(self, data: bytes = b"") -> None:
        super().__init__(f"revert 0x{data.hex()}")
        self.data = data


@dataclass
class ContractResult:
    """What a fake contract call produced: return data and logs ``(topics, data)`` to emit."""

    return_data: bytes = b""
    logs: list[tuple[list[bytes], bytes]] = field(default_factory=list)


ContractHandler = Callable[[str, bytes, int], ContractResult]
"""``handler(sender_checksum_address, calldata, value)``."""


@dataclass
class Faults:
    """Mutable fault switches of one endpoint view (counters decrement per call)."""

    down: bool = False
    timeouts: int = 0
    malformed: int = 0
    head_offset: int = 0
    lie_logs: bool = False
    lie_hashes: bool = False
    latency: float = 0.0
    calls: int = 0


@dataclass
class _Tx:
    sender: str
    nonce: int
    to: str
    value: int
    data: bytes
    gas: int
    max_fee: int
    prio: int
    hash: bytes


@dataclass
class _Block:
    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    base_fee: int
    logs: list[dict[str, Any]] = field(default_factory=list)
    txs: list[_Tx] = field(default_factory=list)


class _RpcFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class FakeChain(RpcClient):
    """A deterministic in-memory chain; see the module docstring."""

    def __init__(self, *, chain_id: int = 31337, base_fee: int = 1_000_000_000,
                 finalized_depth: int = 64, name: str = "fake", timeout: float = 5.0) -> None:
        self.evm_chain_id = chain_id
        self.base_fee = base_fee
        self.finalized_depth = finalized_depth
        self.contracts: dict[str, ContractHandler] = {}
        self.blocks: list[_Block] = []
        self.pool: dict[tuple[str, int], _Tx] = {}
        self.receipts: dict[bytes, dict[str, Any]] = {}
        self.tx_by_hash: dict[bytes, _Tx] = {}
        self.faults = Faults()
        self._pending_logs: list[tuple[str, list[bytes], bytes]] = []
        self._salt = itertools.count()
        self._branch = 0
        self._head_feeds: list[trio.MemorySendChannel[int]] = []
        self._append_block()  # genesis
        super().__init__(_FaultyTransport(self, self.faults), name=name, timeout=timeout)

    # ---- chain control -------------------------------------------------------------------

    def endpoint(self, name: str, faults: Faults | None = None, timeout: float = 5.0
                 ) -> RpcClient:
        """Another endpoint view of this chain with its own fault switches."""
        return RpcClient(_FaultyTransport(self, faults or Faults()), name=name, timeout=timeout)

    def register_contract(self, address: str, handler: ContractHandler) -> None:
        """Serve calls and transactions to ``address`` with ``handler``."""
        self.contracts[address.lower()] = handler

    def emit(self, address: str, topics: list[bytes], data: bytes) -> None:
        """Queue a log for the next mined block (as if a transaction emitted it)."""
        self._pending_logs.append((address.lower(), list(topics), data))

    def set_base_fee(self, base_fee: int) -> None:
        """Base fee of the blocks mined from now on."""
        self.base_fee = base_fee

    @property
    def head(self) -> int:
        """Number of the latest block."""
        return self.blocks[-1].number

    def mine(self, count: int = 1) -> None:
        """Mine ``count`` blocks, including every includable pending transaction."""
        for _ in range(count):
            block = self._append_block()
            for address, topics, data in self._pending_logs:
                self._add_log(block, address, topics, data, keccak(b"log" + block.hash))
            self._pending_logs.clear()
            self._include_pending(block)
            self._announce_head()

    async def feed(self, wake: trio.MemorySendChannel[int]) -> None:
        """A ``HeadFeed``: every mined or reorged-in head goes to ``wake`` until cancelled."""
        self._head_feeds.append(wake)
        try:
            await trio.sleep_forever()
        finally:
            self._head_feeds.remove(wake)

    def reorg(self, depth: int, new_blocks: int | None = None, *, requeue_txs: bool = False
              ) -> None:
        """Replace the last ``depth`` blocks by ``new_blocks`` (default depth + 1) empty ones."""
        dropped = self.blocks[len(self.blocks) - depth:]
        del self.blocks[len(self.blocks) - depth:]
        self._branch += 1
        for block in dropped:
            for tx in block.txs:
                self.receipts.pop(tx.hash, None)
                if requeue_txs:
                    self.pool[(tx.sender, tx.nonce)] = tx
        for _ in range(depth + 1 if new_blocks is None else new_blocks):
            self._append_block()
        self._announce_head()

    async def run_miner(
        self, interval: float, *,
        task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Mine one block every ``interval`` seconds of trio time, forever."""
        task_status.started()
        while True:
            await trio.sleep(interval)
            self.mine()

    def nonce_of(self, sender: str, *, pending: bool = False) -> int:
        """Transactions of ``sender`` included so far (plus contiguous pending ones)."""
        sender = sender.lower()
        nonce = sum(1 for b in self.blocks for tx in b.txs if tx.sender == sender)
        while pending and (sender, nonce) in self.pool:
            nonce += 1
        return nonce

    def included_txs(self, sender: str) -> list[_Tx]:
        """Every included transaction of ``sender`` in chain order."""
        return [tx for b in self.blocks for tx in b.txs if tx.sender == sender.lower()]

    # ---- internals -----------------------------------------------------------------------

    def _announce_head(self) -> None:
        for wake in list(self._head_feeds):
            try:
                wake.send_nowait(self.head)
            except trio.WouldBlock:
                pass  # the watcher has a wake-up pending: it reads the latest head anyway
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._head_feeds.remove(wake)

    def _append_block(self) -> _Block:
        number = len(self.blocks)
        parent = self.blocks[-1].hash if self.blocks else b"\x00" * 32
        digest = keccak(parent + number.to_bytes(8, "big") + self._branch.to_bytes(4, "big")
                        + self.evm_chain_id.to_bytes(8, "big"))
        block = _Block(number, digest, parent, 1_700_000_000 + number, self.base_fee)
        self.blocks.append(block)
        return block

    def _add_log(self, block: _Block, address: str, topics: list[bytes], data: bytes,
                 tx_hash: bytes) -> None:
        block.logs.append({
            "address": address, "topics": ["0x" + t.hex() for t in topics],
            "data": "0x" + data.hex(), "blockNumber": hex(block.number),
            "blockHash": "0x" + block.hash.hex(), "transactionHash": "0x" + tx_hash.hex(),
            "logIndex": hex(len(block.logs)), "removed": False,
        })

    def _include_pending(self, block: _Block) -> None:
        progress = True
        while progress:
            progress = False
            for key, tx in sorted(self.pool.items()):
                if tx.nonce != self.nonce_of(tx.sender) or tx.max_fee < block.base_fee:
                    continue
                del self.pool[key]
                self._execute(block, tx)
                progress = True

    def _execute(self, block: _Block, tx: _Tx) -> None:
        first_log = len(block.logs)
        status, gas = 1, min(tx.gas, 21_000 + 16 * len(tx.data))
        handler = self.contracts.get(tx.to)
        if handler is not None:
            try:
                result = handler(to_checksum_address(tx.sender), tx.data, tx.value)
                for topics, data in result.logs:
                    self._add_log(block, tx.to, topics, data, tx.hash)
            except FakeRevert:
                status = 0
        block.txs.append(tx)
        price = min(tx.max_fee, block.base_fee + tx.prio)
        self.receipts[tx.hash] = {
            "transactionHash": "0x" + tx.hash.hex(), "blockNumber": hex(block.number),
            "blockHash": "0x" + block.hash.hex(), "status": hex(status),
            "gasUsed": hex(gas), "effectiveGasPrice": hex(price),
            "logs": block.logs[first_log:],
        }

    def _block(self, ident: object) -> _Block | None:
        if ident in ("latest", "pending"):
            return self.blocks[-1]
        if ident == "earliest":
            return self.blocks[0]
        if ident == "finalized":
            return self.blocks[max(0, self.head - self.finalized_depth)]
        if ident == "safe":
            return self.blocks[max(0, self.head - self.finalized_depth // 2)]
        number = int(str(ident), 16)
        return self.blocks[number] if 0 <= number <= self.head else None

    @staticmethod
    def _header(block: _Block) -> dict[str, Any]:
        return {"number": hex(block.number), "hash": "0x" + block.hash.hex(),
                "parentHash": "0x" + block.parent_hash.hex(),
                "timestamp": hex(block.timestamp), "baseFeePerGas": hex(block.base_fee)}

    def _send_raw(self, raw_hex: str) -> str:
        raw = bytes.fromhex(raw_hex[2:])
        try:
            fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
            sender = str(Account.recover_transaction(raw)).lower()
        except Exception as err:  # eth_account raises many types for bad encodings
            raise _RpcFailure(-32602, f"invalid transaction: {err}") from err
        if fields.get("chainId") != self.evm_chain_id:
            raise _RpcFailure(-32000, "invalid chain id")
        tx = _Tx(sender, fields["nonce"], "0x" + bytes(fields["to"]).hex(), fields["value"],
                 bytes(fields["data"]), fields["gas"], fields["maxFeePerGas"],
                 fields["maxPriorityFeePerGas"], keccak(raw))
        if tx.hash in self.tx_by_hash and (tx.hash in self.receipts
                                           or (sender, tx.nonce) in self.pool):
            raise _RpcFailure(-32000, "already known")
        if tx.nonce < self.nonce_of(sender):
            raise _RpcFailure(-32000, "nonce too low")
        old = self.pool.get((sender, tx.nonce))
        if old is not None and (tx.max_fee < old.max_fee * 11 // 10
                                or tx.prio < old.prio * 11 // 10):
            raise _RpcFailure(-32000, "replacement transaction underpriced")
        self.pool[(sender, tx.nonce)] = tx
        self.tx_by_hash[tx.hash] = tx
        return "0x" + tx.hash.hex()

    def _get_logs(self, flt: dict[str, Any]) -> list[dict[str, Any]]:
        start, end = int(flt["fromBlock"], 16), min(int(flt["toBlock"], 16), self.head)
        address = str(flt.get("address", "")).lower()
        wanted = flt.get("topics") or []
        out = []
        for block in self.blocks[start:end + 1]:
            for log in block.logs:
                if address and log["address"] != address:
                    continue
                topics = log["topics"]
                if all(w is None or (i < len(topics)
                                     and topics[i] in (w if isinstance(w, list) else [w]))
                       for i, w in enumerate(wanted)):
                    out.append(log)
        return out

    def _call(self, call: dict[str, Any]) -> str:
        handler = self.contracts.get(str(call.get("to", "")).lower())
        if handler is None:
            return "0x"
        sender = to_checksum_address(call.get("from", "0x" + "00" * 20))
        try:
            return "0x" + handler(sender, bytes.fromhex(call["data"][2:]), 0).return_data.hex()
        except FakeRevert as err:
            raise _RpcFailure(3, "execution reverted") from err

    def handle(self, method: str, params: list[Any]) -> Any:
        """Answer one JSON-RPC call from chain state (raises on unknown methods)."""
        table: dict[str, Callable[[], Any]] = {
            "eth_chainId": lambda: hex(self.evm_chain_id),
            "eth_blockNumber": lambda: hex(self.head),
            "eth_getBlockByNumber": lambda: _opt(self._block(params[0]), self._header),
            "eth_getBlockByHash": lambda: _opt(next(
                (b for b in self.blocks if "0x" + b.hash.hex() == params[0]), None), self._header),
            "eth_getLogs": lambda: self._get_logs(params[0]),
            "eth_call": lambda: self._call(params[0]),
            "eth_getTransactionCount": lambda: hex(self.nonce_of(
                params[0], pending=params[1] == "pending")),
            "eth_sendRawTransaction": lambda: self._send_raw(params[0]),
            "eth_getTransactionReceipt": lambda: self.receipts.get(bytes.fromhex(params[0][2:])),
            "eth_estimateGas": lambda: hex(100_000),
            "eth_maxPriorityFeePerGas": lambda: hex(1_000_000_000),
        }
        if method not in table:
            raise _RpcFailure(-32601, f"method {method} not found")
        return table[method]()


def _opt(block: _Block | None, fn: Callable[[_Block], dict[str, Any]]) -> dict[str, Any] | None:
    return None if block is None else fn(block)


class _FaultyTransport:
    """The in-memory transport of one endpoint view, applying its ``Faults``."""

    def __init__(self, chain: FakeChain, faults: Faults) -> None:
        self.chain = chain
        self.faults = faults

    async def __call__(self, payload: dict[str, Any]) -> Any:
        f = self.faults
        f.calls += 1
        if f.latency:
            await trio.sleep(f.latency)
        else:
            await trio.lowlevel.checkpoint()
        if f.down or f.timeouts > 0:
            f.timeouts = max(0, f.timeouts - 1)
            await trio.sleep_forever()
        method, params, rid = payload["method"], payload["params"], payload["id"]
        if f.malformed > 0:
            f.malformed -= 1
            return {"jsonrpc": "2.0", "id": rid, "result": "0xZZ"}
        try:
            result = self.chain.handle(method, params)
        except _RpcFailure as err:
            error = {"code": err.code, "message": err.message}
            return {"jsonrpc": "2.0", "id": rid, "error": error}
        result = self._lie(method, params, result)
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    def _lie(self, method: str, params: list[Any], result: Any) -> Any:
        f, chain = self.faults, self.chain
        if f.head_offset and method == "eth_blockNumber":
            return hex(chain.head + f.head_offset)
        if method == "eth_getBlockByNumber":
            ident = params[0]
            if f.head_offset and ident in ("latest", "finalized", "safe"):
                number = int(result["number"], 16) + f.head_offset
                ident = hex(number)
            if f.head_offset and ident.startswith("0x") and int(ident, 16) > chain.head:
                number = int(ident, 16)
                fake = keccak(b"lie" + number.to_bytes(8, "big"))
                return {"number": hex(number), "hash": "0x" + fake.hex(),
                        "parentHash": "0x" + keccak(fake).hex(), "timestamp": hex(number),
                        "baseFeePerGas": hex(chain.base_fee)}
            if f.lie_hashes and result is not None:
                return dict(result, hash="0x" + keccak(bytes.fromhex(result["hash"][2:])).hex())
        if f.lie_logs and method == "eth_getLogs":
            return [dict(log, data="0x" + keccak(log["data"].encode()).hex()) for log in result]
        return result
