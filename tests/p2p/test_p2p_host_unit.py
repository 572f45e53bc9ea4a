"""Libp2pTransport without a network: validator rules, port conformance, use before start."""

from __future__ import annotations

import pytest
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2

from oracle_node.metrics import CountingMetrics
from oracle_node.p2p.common import (
    EV_GOSSIP_REJECTED,
    R_MULTI_TOPIC,
    R_NOT_MEMBER,
    R_TOO_LARGE,
    request_protocol,
    topic_name,
)
from oracle_node.p2p.errors import NotStartedError, PayloadTooLarge
from oracle_node.p2p.fake import FakeNetwork
from oracle_node.p2p.host import Libp2pTransport
from oracle_node.p2p.identity import generate_identity, peer_id_of
from oracle_node.p2p.wire import MAX_MESSAGE_BYTES
from oracle_node.ports import Transport
from oracle_node.types import PeerIdStr


def _message(source: PeerIdStr, topics: list[str], data: bytes = b"x") -> rpc_pb2.Message:
    return rpc_pb2.Message(from_id=ID.from_base58(source).to_bytes(), data=data,
                           seqno=b"\x00" * 8, topicIDs=topics)


def test_validator_checks_source_membership_topics_and_size() -> None:
    me, member, outsider = (peer_id_of(generate_identity()) for _ in range(3))
    sink = CountingMetrics()
    transport = Libp2pTransport(key_pair=generate_identity(), allowed=[member], metrics=sink)
    own = transport.local_peer
    forwarder = ID.from_base58(member)
    topic = topic_name(1)
    assert transport._validate(forwarder, _message(member, [topic]))
    assert transport._validate(forwarder, _message(own, [topic]))  # it also sees our own
    assert not transport._validate(forwarder, _message(outsider, [topic]))
    assert not transport._validate(forwarder, _message(me, [topic]))
    assert not transport._validate(forwarder, _message(member, [topic, topic_name(2)]))
    assert not transport._validate(
        forwarder, _message(member, [topic], b"x" * (MAX_MESSAGE_BYTES + 1)))
    assert sink.get(EV_GOSSIP_REJECTED, R_NOT_MEMBER) == 2
    assert sink.get(EV_GOSSIP_REJECTED, R_MULTI_TOPIC) == 1
    assert sink.get(EV_GOSSIP_REJECTED, R_TOO_LARGE) == 1
    # rotation: the former member's messages are now rejected
    transport.set_allowed_peers([me])
    assert not transport._validate(forwarder, _message(member, [topic]))
    assert transport._validate(forwarder, _message(me, [topic]))


async def test_use_before_start_is_a_typed_error() -> None:
    transport = Libp2pTransport(key_pair=generate_identity(), allowed=[])
    with pytest.raises(NotStartedError):
        await transport.publish(topic_name(1), b"x")
    with pytest.raises(PayloadTooLarge):
        await transport.publish(topic_name(1), b"x" * (MAX_MESSAGE_BYTES + 1))
    with pytest.raises(NotStartedError):
        await transport.subscribe(topic_name(1))
    with pytest.raises(NotStartedError):
        await transport.request(transport.local_peer, request_protocol(1), b"x")
    assert transport.connected_peers() == []


def test_both_adapters_implement_the_port() -> None:
    real: Transport = Libp2pTransport(key_pair=generate_identity(), allowed=[])
    fake: Transport = FakeNetwork().add_node(PeerIdStr("a"), allowed=[])
    assert real.local_peer.startswith("12D3KooW")  # Ed25519 identity-multihash peer id
    assert fake.local_peer == "a"


@pytest.mark.system
async def test_a_busy_listen_port_is_a_p2p_error_not_a_deaf_node() -> None:
    import socket

    from oracle_node.errors import P2PError
    from oracle_node.p2p.host import HostConfig

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        transport = Libp2pTransport(key_pair=generate_identity(), allowed=[],
                                    config=HostConfig(listen_host="127.0.0.1",
                                                      listen_port=port))
        with pytest.raises(P2PError, match=f"cannot listen on 127.0.0.1:{port}"):
            await transport.run()
