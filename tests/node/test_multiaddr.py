"""The one TCP multiaddr parser (config, node builder, doctor, ceremonies)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracle_node.ceremony.dkg import listen_of
from oracle_node.ceremony.errors import CeremonyError
from oracle_node.errors import ConfigError
from oracle_node.multiaddr import MultiaddrError, parse_tcp_multiaddr
from oracle_node.node_builder import peer_addrs_from_bootstrap

PEER = "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp"


def test_parses_hosts_ports_and_peer() -> None:
    full = parse_tcp_multiaddr(f"/dns4/node-2.example/tcp/9000/p2p/{PEER}", require_peer=True)
    assert (full.host, full.port, full.peer) == ("node-2.example", 9000, PEER)
    assert full.base == "/dns4/node-2.example/tcp/9000"
    bare = parse_tcp_multiaddr("/ip4/0.0.0.0/tcp/0")
    assert (bare.host, bare.port, bare.peer) == ("0.0.0.0", 0, None)
    assert bare.base == "/ip4/0.0.0.0/tcp/0"
    assert peer_addrs_from_bootstrap([f"/ip4/127.0.0.1/tcp/1/p2p/{PEER}",
                                      f"/ip4/127.0.0.2/tcp/2/p2p/{PEER}"]) == {
        PEER: ["/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.2/tcp/2"]}
    assert listen_of("/ip4/127.0.0.1/tcp/4001") == ("127.0.0.1", 4001)


@pytest.mark.parametrize("text", [
    "", "/ip4/1.2.3.4", "/ip4/1.2.3.4/udp/9000", "/ip4/1.2.3.4/tcp/70000",
    "/ip4/1.2.3.4/tcp/9000/p2p/", "/ip4/1.2.3.4/tcp/9000/p2p/a-b", "ip4/1.2.3.4/tcp/1",
    "/unix/tmp/sock", "/ip4/1.2.3.4/tcp/9000/ws",
])
def test_refuses_what_we_cannot_dial(text: str) -> None:
    with pytest.raises(MultiaddrError):
        parse_tcp_multiaddr(text)
    with pytest.raises(CeremonyError):
        listen_of(text)


def test_peer_required_where_the_config_needs_one() -> None:
    with pytest.raises(MultiaddrError, match="/p2p/<peer id>"):
        parse_tcp_multiaddr("/ip4/1.2.3.4/tcp/9000", require_peer=True)
    assert issubclass(MultiaddrError, ValueError)
    assert not issubclass(MultiaddrError, ConfigError)  # the config wraps it, naming the key


@given(st.text(max_size=60))
def test_any_text_parses_or_raises_the_typed_error(text: str) -> None:
    try:
        parsed = parse_tcp_multiaddr(text)
    except MultiaddrError:
        return
    assert 0 <= parsed.port <= 65535
    assert text.startswith(parsed.base)
