"""Helpers for the anvil system tests: the EventSource contract, blocking transactions, a proxy."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import trio
from eth_abi.abi import encode
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from deploy.compile import CompiledContract, compile_source
from testnet.anvil import DEV_PRIVATE_KEYS, AnvilChain

HERE = Path(__file__).resolve().parent


def event_source() -> CompiledContract:
    """The compiled test contract."""
    return compile_source("EventSource", (HERE / "EventSource.vy").read_text(), (HERE,))


def calldata(signature: str, types: list[str], values: list[Any]) -> bytes:
    """4-byte selector of ``signature`` followed by the ABI-encoded arguments."""
    return keccak(text=signature)[:4] + encode(types, values)


def transact(chain: AnvilChain, data: bytes, to: str | None = None, *,
             key: str = DEV_PRIVATE_KEYS[1], wait: bool = True, mine: bool = False
             ) -> dict[str, Any]:
    """Sign and send with ``key`` (blocking; a setup tool, not the code under test)."""
    account = Account.from_key(key)
    nonce = int(str(chain.rpc("eth_getTransactionCount", [account.address, "pending"])), 16)
    tx: dict[str, Any] = {"type": 2, "chainId": chain.chain_id, "nonce": nonce, "data": data,
                          "gas": 3_000_000, "maxFeePerGas": 200 * 10**9,
                          "maxPriorityFeePerGas": 10**9, "value": 0}
    if to is not None:
        tx["to"] = to_checksum_address(to)
    raw = account.sign_transaction(tx).raw_transaction
    tx_hash = str(chain.rpc("eth_sendRawTransaction", ["0x" + bytes(raw).hex()]))
    if mine:  # for chains started with --no-mining
        chain.rpc("evm_mine")
    deadline = time.monotonic() + 20
    while wait and time.monotonic() < deadline:
        receipt = chain.rpc("eth_getTransactionReceipt", [tx_hash])
        if isinstance(receipt, dict):
            return receipt
        time.sleep(0.05)
    return {"transactionHash": tx_hash}


def deploy(chain: AnvilChain, *, mine: bool = False) -> str:
    """Deploy EventSource and return its address (lower-case hex)."""
    receipt = transact(chain, event_source().bytecode, mine=mine)
    return str(receipt["contractAddress"]).lower()


def prove(chain: AnvilChain, contract: str, number: int, root: int = 1) -> dict[str, Any]:
    """Emit BlockProven(number) with final_root = bytes([root]) * 32."""
    return transact(chain, calldata("prove(uint256,bytes32,bytes32)", ["uint256", "bytes32",
                    "bytes32"], [number, bytes([root]) * 32, b"\x00" * 32]), contract)


def deposit(chain: AnvilChain, contract: str, serial: int) -> dict[str, Any]:
    """Emit DepositQueued(serial)."""
    return transact(chain, calldata("deposit(uint64,uint16,uint128)",
                                    ["uint64", "uint16", "uint128"], [serial, 1, 10**18]),
                    contract)


def mine(chain: AnvilChain, blocks: int) -> None:
    """Mine ``blocks`` empty blocks."""
    chain.rpc("anvil_mine", [hex(blocks)])


class TcpProxy:
    """A loopback TCP proxy in front of an RPC port that can cut the line (an RPC outage).

    While ``cut`` is set, open connections are closed and new ones are accepted but never
    answered (the client sees timeouts and resets).
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.cut = False
        self.port = 0
        self._streams: set[trio.abc.Stream] = set()

    @property
    def url(self) -> str:
        """HTTP URL of the proxy."""
        return f"http://127.0.0.1:{self.port}"

    async def set_cut(self, cut: bool) -> None:
        """Start or end the outage."""
        self.cut = cut
        if cut:
            for stream in list(self._streams):
                await stream.aclose()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled."""
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, client: trio.SocketStream) -> None:
        if self.cut:
            while self.cut:
                await trio.sleep(0.1)
            await client.aclose()
            return
        try:
            upstream = await trio.open_tcp_stream("127.0.0.1", self.target_port)
        except OSError:
            await client.aclose()
            return
        self._streams.update((client, upstream))
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pump, client, upstream, nursery.cancel_scope)
                nursery.start_soon(self._pump, upstream, client, nursery.cancel_scope)
        finally:
            self._streams.difference_update((client, upstream))
            with trio.CancelScope(shield=True):
                await client.aclose()
                await upstream.aclose()

    @staticmethod
    async def _pump(src: trio.abc.Stream, dst: trio.abc.Stream, scope: trio.CancelScope) -> None:
        try:
            while data := await src.receive_some(65536):
                await dst.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        scope.cancel()
