"""Chain I/O benchmark: trio-native JSON-RPC vs sync web3, and event-to-emit latency.

Per-call latency (median, p99) of head, logs and send through ``oracle_node.chain`` (httpx
under trio) and through a sync ``web3.Web3`` HTTPProvider, in the same run on the same
anvil; then the time from sending a transaction that emits ``BlockProven`` until the watcher
emits ``RootProven``, on an anvil with 1 s blocks, under the default finality rule and
with the newHeads fast path at 0 confirmations.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
from eth_account import Account
from eth_utils.address import to_checksum_address

from deploy.bindings import encode_call
from deploy.compile import compile_source
from deploy.rpc import BlockingRpc
from oracle_node.chain.cursor import MemoryCursorStore
from oracle_node.chain.events import TOPIC_OF, ChainFact
from oracle_node.chain.pool import MultiRpc
from oracle_node.chain.rpc import HttpTransport, RpcClient
from oracle_node.chain.watcher import FinalityRule, Watcher
from oracle_node.chain.ws import NewHeadsSubscriber
from oracle_node.pipeline.messages import RootProven
from oracle_node.types import RollupChainId
from testnet.anvil import DEV_PRIVATE_KEYS, AnvilChain, anvil_chain
from testnet.bench.report import BenchReport, percentile

_CONTRACT = Path(__file__).resolve().parents[2] / "tests" / "chain" / "EventSource.vy"


def _sign_all(chain: AnvilChain, key: str, count: int, to: str | None = None,
              data: bytes = b"", first_nonce: int | None = None, create: bool = False
              ) -> list[bytes]:
    account = Account.from_key(key)
    nonce = first_nonce if first_nonce is not None else int(str(chain.rpc(
        "eth_getTransactionCount", [account.address, "pending"])), 16)
    raws = []
    for i in range(count):
        tx: dict[str, Any] = {"type": 2, "chainId": chain.chain_id, "nonce": nonce + i,
                              "gas": 3_000_000, "maxFeePerGas": 100 * 10**9,
                              "maxPriorityFeePerGas": 10**9, "value": 0, "data": data}
        if not create:
            tx["to"] = to_checksum_address(to or account.address)
        raws.append(bytes(account.sign_transaction(tx).raw_transaction))
    return raws


def _prove_call(number: int) -> bytes:
    return encode_call("prove", ("uint256", "bytes32", "bytes32"),
                       (number, number.to_bytes(32, "big"), b"\x00" * 32))


def _deploy(chain: AnvilChain) -> str:
    code = compile_source("EventSource", _CONTRACT.read_text(), (_CONTRACT.parent,)).bytecode
    receipt = BlockingRpc(chain.rpc_url).transact(DEV_PRIVATE_KEYS[1], to=None, data=code,
                                                  gas=3_000_000)
    return str(receipt["contractAddress"]).lower()


def _row(report: BenchReport, what: str, client: str, samples: list[float]) -> None:
    ms = [s * 1000 for s in samples]
    report.add(f"{what} median", statistics.median(ms), "ms", client=client, n=len(ms))
    report.add(f"{what} p99", percentile(ms, 99), "ms", client=client, n=len(ms))


async def _timed_async(fn: Callable[[], Awaitable[object]], n: int) -> list[float]:
    await fn()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - start)
    return out


def _rpc_latency(report: BenchReport, chain: AnvilChain, contract: str, calls: int) -> None:
    from web3 import HTTPProvider, Web3

    topics: list[list[bytes] | bytes | None] = [[TOPIC_OF["BlockProven"]]]

    async def ours() -> None:
        transport = HttpTransport(chain.rpc_url)
        rpc = RpcClient(transport, name="anvil")
        head = await rpc.block_number()
        _row(report, "head", "trio+httpx", await _timed_async(rpc.block_number, calls))
        _row(report, "logs", "trio+httpx", await _timed_async(lambda: rpc.get_logs(
            address=contract, topics=topics, from_block=0, to_block=head), calls))
        raws = iter(_sign_all(chain, DEV_PRIVATE_KEYS[5], calls + 1))
        _row(report, "send", "trio+httpx", await _timed_async(
            lambda: rpc.send_raw_transaction(next(raws)), calls))
        await transport.aclose()

    trio.run(ours)
    w3 = Web3(HTTPProvider(chain.rpc_url))
    head = w3.eth.block_number
    flt = {"address": Web3.to_checksum_address(contract), "fromBlock": 0, "toBlock": head,
           "topics": ["0x" + TOPIC_OF["BlockProven"].hex()]}
    for what, fn in (("head", lambda: w3.eth.block_number),
                     ("logs", lambda: w3.eth.get_logs(flt))):  # type: ignore[arg-type]
        fn()
        samples = []
        for _ in range(calls):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        _row(report, what, "web3-sync", samples)
    raws = _sign_all(chain, DEV_PRIVATE_KEYS[6], calls)
    samples = []
    for raw in raws:
        start = time.perf_counter()
        w3.eth.send_raw_transaction(raw)
        samples.append(time.perf_counter() - start)
    _row(report, "send", "web3-sync", samples)


def _emit_latency(report: BenchReport, chain: AnvilChain, contract: str, events: int,
                  finality: FinalityRule, label: str, fast_path: bool) -> None:
    async def measure() -> list[float]:
        transport = HttpTransport(chain.rpc_url)
        rpc = MultiRpc([RpcClient(transport, name="anvil")])
        send, recv = trio.open_memory_channel[ChainFact](events + 10)
        wake_send, wake_recv = trio.open_memory_channel[int](4)
        watcher = Watcher(chain=RollupChainId(1), rpc=rpc, contract=contract, out=send,
                          cursor_store=MemoryCursorStore(), finality=finality,
                          start_block=await rpc.block_number() + 1,
                          wake=wake_recv if fast_path else None)
        sent_at: dict[int, float] = {}
        latencies: list[float] = []
        first = 10_000 + int(time.time()) % 100_000 * 100
        nonce = int(str(chain.rpc("eth_getTransactionCount", [
            Account.from_key(DEV_PRIVATE_KEYS[7]).address, "pending"])), 16)
        raws = [_sign_all(chain, DEV_PRIVATE_KEYS[7], 1, to=contract,
                          data=_prove_call(first + i), first_nonce=nonce + i)[0]
                for i in range(events)]
        async def collect() -> None:
            while len(latencies) < events:
                fact = await recv.receive()
                if isinstance(fact, RootProven) and fact.block_number in sent_at:
                    latencies.append(time.perf_counter() - sent_at[fact.block_number])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watcher.run)
            if fast_path:
                nursery.start_soon(NewHeadsSubscriber(url=chain.ws_url, wake=wake_send).run)
            with trio.fail_after(300):
                async with trio.open_nursery() as inner:
                    inner.start_soon(collect)
                    for i, raw in enumerate(raws):
                        sent_at[first + i] = time.perf_counter()
                        await rpc.send_raw_transaction(raw)
                        await trio.sleep(1.3)
            nursery.cancel_scope.cancel()
        await transport.aclose()
        return latencies

    samples = trio.run(measure)
    report.add("event-to-emit median", statistics.median(samples), "s", finality=label,
               n=len(samples), block_time_s=1, fast_path=fast_path)
    report.add("event-to-emit max", max(samples), "s", finality=label, n=len(samples),
               block_time_s=1, fast_path=fast_path)


def run(report: BenchReport, *, quick: bool) -> None:
    """Add the chain I/O rows to ``report``."""
    calls = 50 if quick else 300
    events = 3 if quick else 8
    with anvil_chain(chain_id=1301) as chain:
        contract = _deploy(chain)
        for raw in _sign_all(chain, DEV_PRIVATE_KEYS[2], 100, to=contract,
                             data=_prove_call(1)):
            chain.rpc("eth_sendRawTransaction", ["0x" + raw.hex()])
        _rpc_latency(report, chain, contract, calls)
    report.note("head/logs/send on one automining anvil; logs = 100 BlockProven logs per call; "
                "send includes anvil's automine of the transaction")
    with anvil_chain(chain_id=1302, block_time=1) as chain:
        contract = _deploy(chain)
        default = FinalityRule()
        _emit_latency(report, chain, contract, events, default,
                      f"default ({default.confirmations} confirmations)", fast_path=False)
        _emit_latency(report, chain, contract, events, FinalityRule(confirmations=0),
                      "0 confirmations", fast_path=True)
    report.note("event-to-emit: send of a tx emitting BlockProven -> RootProven on the watcher's "
                "channel; anvil --block-time 1; default poll interval 2 s")
