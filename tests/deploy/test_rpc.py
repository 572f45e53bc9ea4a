"""The tooling's one blocking JSON-RPC client (``deploy.rpc``) and its thin users.

Error mapping runs against ``httpx.MockTransport`` and a tiny loopback HTTP server (the
``urllib`` transport); calls, transactions, reverts and nonce counting against real anvil.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account

from deploy.bindings import encode_call, selector
from deploy.compile import compile_source
from deploy.errors import ContractRevertError, RpcError
from deploy.rpc import (
    BlockingRpc,
    JsonRpcError,
    JsonRpcRevertError,
    TransactionRevertedError,
)
from oracle_node.errors import ToolchainError as ToolchainError
from testnet.anvil import DEV_PRIVATE_KEYS, AnvilChain, anvil_chain, free_port
from testnet.harness.errors import ChainCallError
from testnet.sequencer.evm import EvmClient

REVERT_NAME = "Zero"
REVERT_DATA = selector("Error(string)") + abi_encode(["string"], [REVERT_NAME])
REVERTER = """
#pragma version ^0.4.0
count: public(uint256)

@external
def bump(x: uint256):
    assert x != 0, "Zero"
    self.count += x
"""


def _mock(answer: Callable[[dict[str, Any]], httpx.Response]) -> BlockingRpc:
    def handler(request: httpx.Request) -> httpx.Response:
        return answer(json.loads(request.content))

    return BlockingRpc("http://mock", http=httpx.Client(transport=httpx.MockTransport(handler)))


def _error(code: int, message: str, data: object = None) -> Callable[..., httpx.Response]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return lambda body: httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"],
                                                  "error": error})


def test_result_and_request_shape() -> None:
    seen: list[dict[str, Any]] = []

    def answer(body: dict[str, Any]) -> httpx.Response:
        seen.append(body)
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": "0x2a"})

    with _mock(answer) as rpc:
        assert rpc.quantity("eth_blockNumber") == 42
        assert rpc.call("eth_getBalance", ("0xabc", "latest")) == "0x2a"
    assert [b["method"] for b in seen] == ["eth_blockNumber", "eth_getBalance"]
    assert seen[1]["params"] == ["0xabc", "latest"]
    assert seen[0]["id"] != seen[1]["id"]


def test_error_object_carries_method_code_and_message() -> None:
    with _mock(_error(-32601, "method not found")) as rpc, \
            pytest.raises(JsonRpcError) as info:
        rpc.call("eth_nothing")
    err = info.value
    assert (err.method, err.code, err.message, err.data) == ("eth_nothing", -32601,
                                                             "method not found", b"")
    assert not isinstance(err, ContractRevertError)
    assert isinstance(err, RpcError)
    assert "eth_nothing" in str(err)


def test_revert_data_becomes_a_contract_revert_with_reason() -> None:
    with _mock(_error(3, "execution reverted: Zero", "0x" + REVERT_DATA.hex())) as rpc, \
            pytest.raises(ContractRevertError) as info:
        rpc.call("eth_estimateGas", [{}])
    err = info.value
    assert isinstance(err, JsonRpcRevertError)
    assert (err.method, err.code, err.reason, err.data) == ("eth_estimateGas", 3, REVERT_NAME,
                                                            REVERT_DATA)
    with _mock(_error(3, "execution reverted", "0x")) as rpc, \
            pytest.raises(JsonRpcRevertError) as bare:
        rpc.call("eth_call", [{}, "latest"])
    assert bare.value.reason is None


@pytest.mark.parametrize("response", [
    httpx.Response(200, content=b"<html>proxy error</html>"),
    httpx.Response(200, json=[1, 2]),
    httpx.Response(200, json="0x1"),
])
def test_nonsense_answers_are_json_rpc_errors(response: httpx.Response) -> None:
    with _mock(lambda _body: response) as rpc, pytest.raises(JsonRpcError) as info:
        rpc.call("eth_chainId")
    assert info.value.method == "eth_chainId"
    assert info.value.code is None


def test_malformed_quantity_and_data() -> None:
    answers = iter(["12", "0xzz"])
    with _mock(lambda body: httpx.Response(200, json={"id": body["id"],
                                                      "result": next(answers)})) as rpc:
        with pytest.raises(JsonRpcError, match="malformed quantity"):
            rpc.quantity("eth_blockNumber")
        with pytest.raises(JsonRpcError, match="malformed data"):
            rpc.code("0x" + "11" * 20)


def test_transport_failure_is_chained() -> None:
    def refuse(_request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    rpc = BlockingRpc("http://mock", http=httpx.Client(transport=httpx.MockTransport(refuse)))
    with rpc, pytest.raises(JsonRpcError) as info:
        rpc.call("eth_chainId")
    assert isinstance(info.value.__cause__, httpx.ConnectError)


class _Canned(BaseHTTPRequestHandler):
    """Answers every POST with the server's ``reply(body) -> bytes`` (no logging)."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        payload = self.server.reply(body)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def canned() -> Iterator[tuple[str, ThreadingHTTPServer]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    server.reply = lambda body: json.dumps(  # type: ignore[attr-defined]
        {"jsonrpc": "2.0", "id": body["id"], "result": body["method"]}).encode()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_urllib_transport_and_the_thin_wrappers(
        canned: tuple[str, ThreadingHTTPServer]) -> None:
    url, server = canned
    assert BlockingRpc(url).call("web3_clientVersion") == "web3_clientVersion"
    server.reply = lambda body: json.dumps(  # type: ignore[attr-defined]
        {"jsonrpc": "2.0", "id": body["id"],
         "error": {"code": -32000, "message": "nonce too low"}}).encode()
    with pytest.raises(JsonRpcError) as info:
        BlockingRpc(url).call("eth_sendRawTransaction", ["0x00"])
    assert (info.value.code, info.value.message) == (-32000, "nonce too low")
    client = EvmClient(url)
    try:
        with pytest.raises(ChainCallError) as wrapped:
            client.rpc("eth_sendRawTransaction", ["0x00"])
        assert isinstance(wrapped.value.__cause__, JsonRpcError)
        assert "nonce too low" in str(wrapped.value)
    finally:
        client.close()


def test_refused_connection_and_timeout() -> None:
    port = free_port()
    with pytest.raises(JsonRpcError) as refused:
        BlockingRpc(f"http://127.0.0.1:{port}", timeout=2).call("eth_chainId")
    assert isinstance(refused.value.__cause__, OSError)
    with socket.socket() as silent:  # accepts (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(JsonRpcError) as slow:
            BlockingRpc(url).call("eth_chainId", timeout=0.2)
        assert isinstance(slow.value.__cause__, OSError)


# -- real anvil ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain() -> Iterator[AnvilChain]:
    with anvil_chain(chain_id=31551) as running:
        yield running


@pytest.fixture(scope="module")
def reverter(chain: AnvilChain) -> str:
    code = compile_source("Reverter", REVERTER).bytecode
    receipt = BlockingRpc(chain.rpc_url).transact(DEV_PRIVATE_KEYS[0], to=None, data=code)
    return str(receipt["contractAddress"])


@pytest.mark.system
def test_calls_and_transactions_on_anvil(chain: AnvilChain, reverter: str) -> None:
    rpc = BlockingRpc(chain.rpc_url)
    assert rpc.chain_id() == 31551
    assert rpc.code(reverter)
    receipt = rpc.transact(DEV_PRIVATE_KEYS[2], to=reverter,
                           data=encode_call("bump", ("uint256",), (5,)))
    assert int(receipt["status"], 16) == 1
    count = rpc.eth_call(reverter, encode_call("count"))
    assert int.from_bytes(count, "big") >= 5


@pytest.mark.system
def test_reverts_on_anvil(chain: AnvilChain, reverter: str) -> None:
    rpc = BlockingRpc(chain.rpc_url)
    bad = encode_call("bump", ("uint256",), (0,))
    with pytest.raises(JsonRpcRevertError) as estimated:
        rpc.send_transaction(DEV_PRIVATE_KEYS[2], to=reverter, data=bad)
    assert (estimated.value.method, estimated.value.reason) == ("eth_estimateGas", REVERT_NAME)
    assert estimated.value.code is not None
    with pytest.raises(TransactionRevertedError) as mined:
        rpc.transact(DEV_PRIVATE_KEYS[2], to=reverter, data=bad, gas=100_000)
    assert mined.value.reason == REVERT_NAME
    assert int(mined.value.receipt["status"], 16) == 0
    with pytest.raises(ToolchainError) as via_anvil:
        chain.rpc("eth_call", [{"to": reverter, "data": "0x" + bad.hex()}, "latest"])
    assert isinstance(via_anvil.value.__cause__, JsonRpcRevertError)


@pytest.mark.system
def test_tracked_nonces_from_threads(chain: AnvilChain, reverter: str) -> None:
    client = EvmClient(chain.rpc_url)
    key = DEV_PRIVATE_KEYS[3]
    me = Account.from_key(key).address
    before = int(str(chain.rpc("eth_getTransactionCount", [me, "latest"])), 16)
    data = encode_call("bump", ("uint256",), (1,))
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _i: client.send(key, to=reverter, data=data),
                                    range(8)))
        assert all(r.status == 1 for r in results)
        with pytest.raises(ChainCallError, match="reverted"):
            client.send(key, to=reverter, data=encode_call("bump", ("uint256",), (0,)),
                        gas=100_000)
        client.send(key, to=reverter, data=data)  # the nonce count survives a revert
    finally:
        client.close()
    after = int(str(chain.rpc("eth_getTransactionCount", [me, "latest"])), 16)
    assert after - before == 10


@pytest.mark.system
def test_tx_sender_over_web3(chain: AnvilChain, reverter: str) -> None:
    from web3 import Web3

    from deploy.gate_tools import TransactionFailedError, TxSender

    sender = TxSender(Web3(Web3.HTTPProvider(chain.rpc_url)), DEV_PRIVATE_KEYS[4])
    good = encode_call("bump", ("uint256",), (2,))
    receipt = sender.send(reverter, good)
    assert receipt["status"] == 1
    assert receipt["gasUsed"] > 21_000
    bad = encode_call("bump", ("uint256",), (0,))
    with pytest.raises(TransactionFailedError) as estimated:
        sender.send(reverter, bad)
    assert estimated.value.reason == REVERT_NAME
    assert estimated.value.receipt is None
    with pytest.raises(TransactionFailedError) as mined:
        sender.send(reverter, bad, gas=100_000)
    assert mined.value.reason == REVERT_NAME
    assert int(mined.value.receipt["gasUsed"]) > 21_000
    assert sender.send(reverter, bad, gas=100_000, check=False)["status"] == 0
