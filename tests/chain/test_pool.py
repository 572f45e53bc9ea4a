"""MultiRpc: failover, health ranking, chain-id check, quorum failures, remote errors."""

from __future__ import annotations

import pytest
import trio

from oracle_node.chain.errors import (
    NoHealthyEndpoint,
    QuorumNotReached,
    RpcRemoteError,
    WrongChainId,
)
from oracle_node.chain.fake import ContractResult, FakeChain, FakeRevert, Faults
from oracle_node.chain.pool import MultiRpc, RetryPolicy
from oracle_node.metrics import CountingMetrics
from oracle_node.ports import ChainRpc


async def test_failover_and_cooldown_of_a_dead_endpoint(autojump_clock: trio.abc.Clock) -> None:
    chain = FakeChain()
    chain.mine(3)
    dead = Faults(down=True)
    rpc = MultiRpc([chain.endpoint("dead", dead, timeout=1.0), chain.endpoint("ok")])
    for _ in range(4):
        assert await rpc.chain_id() == 31337
    assert rpc.health["dead"].timeouts >= 1
    calls_before = dead.calls
    await rpc.chain_id()
    assert dead.calls == calls_before  # cooling down: ranked last, not tried first
    assert [ep.name for ep in rpc.ranked()] == ["ok", "dead"]


async def test_faster_endpoint_ranks_first(autojump_clock: trio.abc.Clock) -> None:
    chain = FakeChain()
    rpc = MultiRpc([chain.endpoint("slow", Faults(latency=0.5)),
                    chain.endpoint("fast", Faults(latency=0.01))])
    await rpc.gather(lambda ep: ep.block_number())
    assert [ep.name for ep in rpc.ranked()] == ["fast", "slow"]
    assert rpc.health["slow"].latency_ewma == pytest.approx(0.5)


async def test_all_endpoints_down_raises_after_backoff(autojump_clock: trio.abc.Clock) -> None:
    chain = FakeChain()
    rpc = MultiRpc([chain.endpoint("a", Faults(down=True), timeout=1.0)],
                   retry=RetryPolicy(attempts=3, base_delay=1.0, jitter=0.0))
    start = trio.current_time()
    with pytest.raises(NoHealthyEndpoint):
        await rpc.chain_id()
    assert trio.current_time() - start == pytest.approx(3 * 1.0 + 1.0 + 2.0)


async def test_wrong_chain_id_endpoint_is_excluded(autojump_clock: trio.abc.Clock) -> None:
    right, wrong = FakeChain(chain_id=5), FakeChain(chain_id=6)
    metrics = CountingMetrics()
    rpc = MultiRpc([wrong.endpoint("wrong"), right.endpoint("right")], expected_chain_id=5,
                   metrics=metrics)
    await rpc.verify_chain_ids()
    assert [ep.name for ep in rpc.ranked()] == ["right"]
    assert metrics.counts[("rpc_error", "wrong_chain_id")] == 1
    only_wrong = MultiRpc([wrong.endpoint("wrong")], expected_chain_id=5)
    with pytest.raises(WrongChainId):
        await only_wrong.verify_chain_ids()


async def test_quorum_not_reached_when_endpoints_disagree(autojump_clock: trio.abc.Clock) -> None:
    chain = FakeChain()
    chain.mine(2)
    rpc = MultiRpc([chain.endpoint("a", Faults(lie_hashes=True)), chain.endpoint("b")],
                   quorum=2, retry=RetryPolicy(attempts=2))
    with pytest.raises(QuorumNotReached):
        await rpc.get_block(1)


async def test_remote_error_is_an_answer_not_failed_over(autojump_clock: trio.abc.Clock) -> None:
    chain = FakeChain()
    target = "0x" + "99" * 20

    def reverts(sender: str, data: bytes, value: int) -> ContractResult:
        raise FakeRevert(b"no")

    chain.register_contract(target, reverts)
    second = Faults()
    rpc = MultiRpc([chain.endpoint("a"), chain.endpoint("b", second)])
    with pytest.raises(RpcRemoteError):
        await rpc.call(to=target, data=b"\x01")
    assert second.calls == 0


def test_adapters_implement_the_chain_port() -> None:
    chain = FakeChain()
    adapters: list[ChainRpc] = [chain, chain.endpoint("x"), MultiRpc([chain.endpoint("y")])]
    assert len(adapters) == 3  # the real check is mypy's structural check of this list
