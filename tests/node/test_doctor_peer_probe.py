"""The doctor's peer check needs a real libp2p listener, not just an open TCP port."""

from __future__ import annotations

import socket

import pytest
import trio

from oracle_node.health import probe_libp2p_listener
from oracle_node.p2p.host import Libp2pTransport
from oracle_node.p2p.identity import generate_identity


async def test_a_silent_tcp_server_is_not_a_peer() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def accept_and_say_nothing(stream: trio.SocketStream) -> None:
        await trio.sleep(10)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, accept_and_say_nothing, listeners)
        problem = await probe_libp2p_listener("127.0.0.1", port, timeout=0.5)
        nursery.cancel_scope.cancel()
    assert problem == "no answer (timeout)"


async def test_a_closed_port_is_not_a_peer() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    problem = await probe_libp2p_listener("127.0.0.1", port, timeout=1.0)
    assert problem is not None
    assert "Connect" in problem or "refused" in problem.lower() or "OSError" in problem


@pytest.mark.system
async def test_a_real_libp2p_host_answers() -> None:
    transport = Libp2pTransport(key_pair=generate_identity(), allowed=[])
    async with trio.open_nursery() as nursery:
        await nursery.start(transport.run)
        addr = str(transport.listen_addrs[0])
        parts = addr.split("/")
        assert await probe_libp2p_listener(parts[2], int(parts[4]), timeout=3.0) is None
        nursery.cancel_scope.cancel()
