"""The one parser of the TCP multiaddrs operators write (``p2p.listen``, ``p2p.bootstrap``,
cluster definitions): ``/<ip4|ip6|dns|dns4|dns6>/<host>/tcp/<port>[/p2p/<peer id>]``.

Kept free of libp2p imports so that config validation and the CLI stay fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from oracle_node.errors import OracleNodeError
from oracle_node.types import PeerIdStr

_TCP = re.compile(r"/(?P<proto>ip4|ip6|dns|dns4|dns6)/(?P<host>[^/\s]+)/tcp/(?P<port>\d{1,5})"
                  r"(?:/p2p/(?P<peer>\w+))?", re.ASCII)
"""Matched with ``fullmatch`` and ``re.ASCII``: no trailing newline, no non-ASCII digits."""


class MultiaddrError(OracleNodeError, ValueError):
    """Raised by :func:`parse_tcp_multiaddr` for text that is not a TCP multiaddr we dial."""


@dataclass(frozen=True)
class TcpMultiaddr:
    """A parsed TCP multiaddr."""

    host: str
    port: int
    peer: PeerIdStr | None
    base: str
    """The address without its ``/p2p/<id>`` suffix (what the libp2p host dials)."""


def parse_tcp_multiaddr(text: str, *, require_peer: bool = False) -> TcpMultiaddr:
    """Parse ``text``; :class:`MultiaddrError` names what is wrong with it."""
    match = _TCP.fullmatch(text)
    if match is None:
        raise MultiaddrError(f"expected a multiaddr like /ip4/0.0.0.0/tcp/9000"
                             f"{'/p2p/<peer id>' if require_peer else ''}, got {text!r}")
    port = int(match["port"])
    if port > 65535:
        raise MultiaddrError(f"port {port} out of range in {text!r}")
    peer = match["peer"]
    if require_peer and peer is None:
        raise MultiaddrError(f"expected a multiaddr ending in /p2p/<peer id>, got {text!r}")
    return TcpMultiaddr(match["host"], port, None if peer is None else PeerIdStr(peer),
                        text.partition("/p2p/")[0])
