"""A one-node libp2p process driven by JSON lines (system tests and latency measurements).

``python -m oracle_node.p2p.runner --key-hex HEX --allowed ID,ID --network-id N``
prints ``{"event": "ready", "peer_id", "addrs"}`` and then obeys one JSON command per stdin
line, answering with JSON events on stdout:

* ``{"cmd": "peers", "addrs": {peer: [multiaddr, ...]}}`` → ``{"event": "peers"}``
* ``{"cmd": "wait_connected", "peers": [...], "timeout": s}`` → ``{"event": "connected", "ok"}``
* ``{"cmd": "publish", "seq": n}`` → gossip carrying (seq, send wall-clock time);
  subscribers print ``{"event": "gossip", "from", "seq", "latency_ms"}``
* ``{"cmd": "request", "peer": id, "count": k}`` → ``{"event": "rtts", "ms": [...],
  "errors": [...]}`` (echo protocol of the network)
* ``{"cmd": "counts"}`` → ``{"event": "counts", "counts": {"event/reason": n}}``
* ``{"cmd": "quit"}`` (or end of stdin) → clean shutdown, ``{"event": "stopped"}``, exit 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import trio

from oracle_node.metrics import CountingMetrics
from oracle_node.p2p.common import request_protocol, topic_name
from oracle_node.p2p.errors import RequestError
from oracle_node.p2p.host import HostConfig, Libp2pTransport
from oracle_node.p2p.identity import identity_from_bytes
from oracle_node.types import PeerIdStr


def _emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


async def _lines(stream: trio.lowlevel.FdStream) -> Any:
    buffer = b""
    while True:
        chunk = await stream.receive_some(65536)
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)


async def _print_gossip(channel: trio.MemoryReceiveChannel[tuple[PeerIdStr, bytes]]) -> None:
    async for sender, data in channel:
        sent = json.loads(data)
        _emit("gossip", **{"from": sender}, seq=sent["seq"],
              latency_ms=(time.time() - sent["t"]) * 1000.0)


async def _requests(transport: Libp2pTransport, protocol: str, peer: PeerIdStr,
                    count: int) -> None:
    rtts: list[float] = []
    errors: list[str] = []
    for index in range(count):
        start = time.perf_counter()
        try:
            answer = await transport.request(peer, protocol, b"ping-%d" % index, timeout=5.0)
        except RequestError as err:
            errors.append(err.reason)
            continue
        if answer != b"pong-%d" % index:
            errors.append("wrong_answer")
            continue
        rtts.append((time.perf_counter() - start) * 1000.0)
    _emit("rtts", peer=peer, ms=rtts, errors=errors)


async def _echo(peer: PeerIdStr, data: bytes) -> bytes:
    await trio.lowlevel.checkpoint()
    return b"pong" + data[4:]


async def main(args: argparse.Namespace) -> None:
    """Run the node and obey commands until ``quit`` or end of input."""
    sink = CountingMetrics()
    allowed = [PeerIdStr(p) for p in args.allowed.split(",") if p]
    transport = Libp2pTransport(key_pair=identity_from_bytes(bytes.fromhex(args.key_hex)),
                                allowed=allowed, config=HostConfig(muxer=args.muxer),
                                metrics=sink)
    topic, protocol = topic_name(args.network_id), request_protocol(args.network_id)
    transport.set_request_handler(protocol, _echo)
    async with trio.open_nursery() as nursery:
        await nursery.start(transport.run)
        nursery.start_soon(_print_gossip, await transport.subscribe(topic))
        _emit("ready", peer_id=transport.local_peer, addrs=transport.listen_addrs)
        async for command in _lines(trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))):
            cmd = command["cmd"]
            if cmd == "peers":
                for peer, addrs in command["addrs"].items():
                    transport.add_peer_addrs(PeerIdStr(peer), addrs)
                _emit("peers")
            elif cmd == "wait_connected":
                ok = await transport.wait_connected(command["peers"], command["timeout"])
                _emit("connected", ok=ok, peers=transport.connected_peers())
            elif cmd == "publish":
                payload = json.dumps({"seq": command["seq"], "t": time.time()}).encode()
                await transport.publish(topic, payload)
            elif cmd == "request":
                nursery.start_soon(_requests, transport, protocol, command["peer"],
                                   command["count"])
            elif cmd == "counts":
                _emit("counts", counts={f"{e}/{r}": n for (e, r), n in sink.counts.items()})
            elif cmd == "quit":
                break
        transport.stop()
        nursery.cancel_scope.deadline = trio.current_time() + 15.0
    _emit("stopped")


def cli() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key-hex", required=True)
    parser.add_argument("--allowed", required=True)
    parser.add_argument("--network-id", type=int, default=1)
    parser.add_argument("--muxer", choices=("yamux", "mplex"), default="yamux")
    trio.run(main, parser.parse_args())


if __name__ == "__main__":
    cli()
