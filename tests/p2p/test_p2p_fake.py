"""FakeNetwork/FakeTransport under MockClock: gossip, partitions, drops, requests, membership."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import trio
from trio.testing import MockClock

from oracle_node.metrics import CountingMetrics
from oracle_node.p2p import errors
from oracle_node.p2p.common import (
    EV_CONNECTION_REFUSED,
    EV_GOSSIP_DROPPED,
    EV_GOSSIP_REJECTED,
    EV_REQUEST_FAILED,
    EV_REQUEST_REJECTED,
    EV_REQUEST_RETRIED,
    R_HANDLER_ERROR,
    R_NO_HANDLER,
    R_NOT_MEMBER,
    R_QUEUE_FULL,
    request_protocol,
    topic_name,
)
from oracle_node.p2p.fake import FakeNetwork, FakeTransport, open_fake_network
from oracle_node.p2p.retry import request_with_retries
from oracle_node.p2p.wire import MAX_MESSAGE_BYTES
from oracle_node.types import PeerIdStr

TOPIC = topic_name(7)
REQ = request_protocol(7)


def _peers(n: int) -> list[PeerIdStr]:
    return [PeerIdStr(f"peer-{i:02d}") for i in range(n)]


def _cluster(net: FakeNetwork, n: int, *, capacity: int = 256
             ) -> tuple[list[FakeTransport], list[CountingMetrics]]:
    peers = _peers(n)
    sinks = [CountingMetrics() for _ in peers]
    nodes = [net.add_node(p, allowed=peers, metrics=s, subscription_capacity=capacity)
             for p, s in zip(peers, sinks, strict=True)]
    return nodes, sinks


def _drain(channel: trio.MemoryReceiveChannel[tuple[PeerIdStr, bytes]]
           ) -> list[tuple[PeerIdStr, bytes]]:
    out = []
    while True:
        try:
            out.append(channel.receive_nowait())
        except trio.WouldBlock:
            return out


async def _subscribe_all(nodes: Sequence[FakeTransport]
                         ) -> list[trio.MemoryReceiveChannel[tuple[PeerIdStr, bytes]]]:
    return [await node.subscribe(TOPIC) for node in nodes]


async def test_publish_reaches_every_other_member_after_the_delay(
        autojump_clock: MockClock) -> None:
    async with open_fake_network(delay=0.05) as net:
        nodes, _ = _cluster(net, 4)
        subs = await _subscribe_all(nodes)
        start = trio.current_time()
        await nodes[0].publish(TOPIC, b"hello")
        await trio.sleep(0.049)
        assert all(_drain(s) == [] for s in subs)
        await trio.sleep(0.002)
        assert _drain(subs[0]) == []  # never to self
        for sub in subs[1:]:
            assert _drain(sub) == [(nodes[0].local_peer, b"hello")]
        assert trio.current_time() - start == pytest.approx(0.051)
        assert nodes[0].connected_peers() == [n.local_peer for n in nodes[1:]]


async def test_partition_and_heal(autojump_clock: MockClock) -> None:
    async with open_fake_network(delay=0.01) as net:
        nodes, _ = _cluster(net, 4)
        subs = await _subscribe_all(nodes)
        a, b, c, d = (n.local_peer for n in nodes)
        net.partition([a, b], [c, d])
        assert nodes[0].connected_peers() == [b]
        await nodes[0].publish(TOPIC, b"split")
        await trio.sleep(0.1)
        assert [len(_drain(s)) for s in subs] == [0, 1, 0, 0]
        # a partition that starts while a message is in flight also loses it
        await nodes[2].publish(TOPIC, b"late")
        net.partition([c], [a, b, d])
        await trio.sleep(0.1)
        assert [len(_drain(s)) for s in subs] == [0, 0, 0, 0]
        assert net.stats["dropped_partition"] >= 3
        net.heal()
        await nodes[3].publish(TOPIC, b"healed")
        await trio.sleep(0.1)
        assert [len(_drain(s)) for s in subs] == [1, 1, 1, 0]


async def test_random_drops_are_seeded(autojump_clock: MockClock) -> None:
    async def run(seed: int) -> list[int]:
        async with open_fake_network(delay=(0.001, 0.02), drop_rate=0.3, seed=seed) as net:
            nodes, _ = _cluster(net, 5)
            subs = await _subscribe_all(nodes)
            for i in range(40):
                await nodes[i % 5].publish(TOPIC, b"%d" % i)
            await trio.sleep(1)
            return [len(_drain(s)) for s in subs]

    first, again, other = await run(1), await run(1), await run(2)
    assert first == again
    assert first != other
    assert 0.55 * 160 < sum(first) < 0.85 * 160  # 40 messages x 4 receivers, 30 % dropped


async def test_full_queue_drops_and_counts(autojump_clock: MockClock) -> None:
    async with open_fake_network() as net:
        nodes, sinks = _cluster(net, 2, capacity=3)
        sub = await nodes[1].subscribe(TOPIC)
        for i in range(5):
            await nodes[0].publish(TOPIC, b"%d" % i)
        await trio.sleep(0.1)
        assert [d for _, d in _drain(sub)] == [b"0", b"1", b"2"]
        assert sinks[1].get(EV_GOSSIP_DROPPED, R_QUEUE_FULL) == 2


async def test_non_member_is_rejected_everywhere(autojump_clock: MockClock) -> None:
    async with open_fake_network() as net:
        nodes, sinks = _cluster(net, 3)
        members = [n.local_peer for n in nodes]
        outsider = net.add_node(PeerIdStr("outsider"), allowed=members)
        subs = await _subscribe_all(nodes)
        await outsider.publish(TOPIC, b"evil")
        await trio.sleep(0.1)
        assert all(_drain(s) == [] for s in subs)
        assert all(s.get(EV_GOSSIP_REJECTED, R_NOT_MEMBER) == 1 for s in sinks)
        nodes[0].set_request_handler(REQ, _echo)
        with pytest.raises(errors.PeerUnreachable):
            await outsider.request(members[0], REQ, b"x")
        assert sinks[0].get(EV_CONNECTION_REFUSED, R_NOT_MEMBER) == 1
        with pytest.raises(errors.PeerNotAllowed):
            await nodes[0].request(PeerIdStr("outsider"), REQ, b"x")
        assert outsider.connected_peers() == []


async def test_rotation_removes_a_member(autojump_clock: MockClock) -> None:
    async with open_fake_network() as net:
        nodes, sinks = _cluster(net, 3)
        subs = await _subscribe_all(nodes)
        a, b, _ = (n.local_peer for n in nodes)
        for node in nodes[:2]:
            node.set_allowed_peers([a, b])
        await nodes[2].publish(TOPIC, b"old member")
        await nodes[0].publish(TOPIC, b"fine")
        await trio.sleep(0.1)
        assert [d for _, d in _drain(subs[1])] == [b"fine"]
        assert sinks[0].get(EV_GOSSIP_REJECTED, R_NOT_MEMBER) == 1
        assert nodes[0].connected_peers() == [b]


async def _echo(peer: PeerIdStr, data: bytes) -> bytes:
    await trio.sleep(0.01)
    return peer.encode() + b":" + data


async def test_request_response(autojump_clock: MockClock) -> None:
    async with open_fake_network(delay=0.02) as net:
        nodes, sinks = _cluster(net, 3)
        nodes[1].set_request_handler(REQ, _echo)
        start = trio.current_time()
        assert await nodes[0].request(nodes[1].local_peer, REQ, b"hi") == b"peer-00:hi"
        assert trio.current_time() - start == pytest.approx(0.05)

        with pytest.raises(errors.RequestRefused):
            await nodes[0].request(nodes[2].local_peer, REQ, b"hi")
        assert sinks[2].get(EV_REQUEST_REJECTED, R_NO_HANDLER) == 1

        async def broken(peer: PeerIdStr, data: bytes) -> bytes:
            raise ValueError("bug")

        nodes[2].set_request_handler(REQ, broken)
        with pytest.raises(errors.RequestRefused):
            await nodes[0].request(nodes[2].local_peer, REQ, b"hi")
        assert sinks[2].get(EV_REQUEST_REJECTED, R_HANDLER_ERROR) == 1

        with pytest.raises(errors.PayloadTooLarge):
            await nodes[0].request(nodes[1].local_peer, REQ, b"x" * (MAX_MESSAGE_BYTES + 1))
        with pytest.raises(errors.PayloadTooLarge):
            await nodes[0].publish(TOPIC, b"x" * (MAX_MESSAGE_BYTES + 1))


async def test_request_timeout_crash_and_retries(
        autojump_clock: MockClock) -> None:
    async with open_fake_network(delay=0.02) as net:
        nodes, sinks = _cluster(net, 3)
        a, b, _ = (n.local_peer for n in nodes)
        nodes[1].set_request_handler(REQ, _echo)
        net.partition([a], [b])
        start = trio.current_time()
        with pytest.raises(errors.RequestTimeout):
            await nodes[0].request(b, REQ, b"x", timeout=1.0)
        assert trio.current_time() - start == pytest.approx(1.0)

        net.heal()
        net.crash(b)
        with pytest.raises(errors.PeerUnreachable):
            await nodes[0].request(b, REQ, b"x", timeout=1.0)
        assert sinks[0].get(EV_REQUEST_FAILED, "timeout") == 1
        assert sinks[0].get(EV_REQUEST_FAILED, "unreachable") == 1

        async def restart_later() -> None:
            await trio.sleep(0.5)
            net.restart(b)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(restart_later)
            answer = await request_with_retries(nodes[0], b, REQ, b"again", attempts=4,
                                                timeout=0.2, backoff=0.2, metrics=sinks[0])
        assert answer == b"peer-00:again"
        assert sinks[0].get(EV_REQUEST_RETRIED, "unreachable") == 2

        net.crash(b)
        with pytest.raises(errors.PeerUnreachable):
            await request_with_retries(nodes[0], b, REQ, b"x", attempts=2, backoff=0.1)


async def test_crashed_node_neither_sends_nor_receives(
        autojump_clock: MockClock) -> None:
    async with open_fake_network() as net:
        nodes, _ = _cluster(net, 3)
        subs = await _subscribe_all(nodes)
        net.crash(nodes[2].local_peer)
        await nodes[0].publish(TOPIC, b"one")
        await nodes[2].publish(TOPIC, b"ghost")
        await trio.sleep(0.1)
        assert [len(_drain(s)) for s in subs] == [0, 1, 0]
        net.restart(nodes[2].local_peer)
        await nodes[0].publish(TOPIC, b"two")
        await trio.sleep(0.1)
        assert [d for _, d in _drain(subs[2])] == [b"two"]


async def test_sixty_four_nodes_all_to_all(autojump_clock: MockClock) -> None:
    async with open_fake_network(delay=(0.001, 0.01), seed=3) as net:
        nodes, _ = _cluster(net, 64)
        subs = await _subscribe_all(nodes)
        for node in nodes:
            await node.publish(TOPIC, node.local_peer.encode())
        await trio.sleep(0.1)
        for node, sub in zip(nodes, subs, strict=True):
            got = sorted(sender for sender, _ in _drain(sub))
            assert got == sorted(n.local_peer for n in nodes if n is not node)
        assert net.stats["sent"] == 64 * 63


async def test_second_subscribe_shares_the_queue(autojump_clock: MockClock) -> None:
    async with open_fake_network() as net:
        nodes, _ = _cluster(net, 2)
        first = await nodes[1].subscribe(TOPIC)
        second = await nodes[1].subscribe(TOPIC)
        await nodes[0].publish(TOPIC, b"x")
        await trio.sleep(0.1)
        assert len(_drain(first)) + len(_drain(second)) == 1
