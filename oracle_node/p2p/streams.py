"""Request/response over libp2p streams: one framed exchange per stream (see ``framing``).

Client: open a stream for the protocol, write the request frame, read the response frame,
all under one timeout; any failure is a typed ``RequestError``. Server: refuse non-members,
read the request under a size limit and a timeout, run the handler inside a capacity
limiter, answer with a status; every refusal is counted with one reason.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Protocol

import trio
from libp2p.custom_types import TProtocol
from libp2p.network.stream.exceptions import StreamEOF
from libp2p.peer.id import ID
from libp2p.protocol_muxer.exceptions import MultiselectClientError, ProtocolNotSupportedError

from oracle_node.p2p.common import (
    EV_REQUEST_REJECTED,
    EV_REQUEST_SERVED,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    R_BAD_FRAME,
    R_HANDLER_ERROR,
    R_NO_HANDLER,
    R_NOT_MEMBER,
    R_OK,
    R_TIMEOUT,
    R_TOO_LARGE,
    AllowList,
    checked_request,
)
from oracle_node.p2p.errors import (
    BadResponse,
    PeerUnreachable,
    RequestRefused,
    RequestTimeout,
)
from oracle_node.p2p.framing import (
    FrameError,
    ReadSome,
    Status,
    encode_request,
    encode_response,
    read_request,
    read_response,
)
from oracle_node.ports import MetricsSink, RequestHandler
from oracle_node.types import PeerIdStr


class StreamOwner(Protocol):
    """What the stream code needs from the transport that owns it."""

    allow: AllowList
    metrics: MetricsSink

    @property
    def limiter(self) -> trio.CapacityLimiter:
        """Bounds concurrently served requests."""
        ...

    @property
    def serve_timeout(self) -> float:
        """Seconds a peer has to send its request and the handler has to answer."""
        ...

    def handler_for(self, protocol: str) -> RequestHandler | None:
        """The registered handler of ``protocol``."""
        ...


def _reader(stream: Any) -> ReadSome:
    async def read(n: int) -> bytes:
        try:
            return bytes(await stream.read(n))
        except StreamEOF:
            return b""

    return read


async def _reset(stream: Any) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(1.0):
        try:
            await stream.reset()
        except Exception:  # already closed or reset by the peer
            pass


async def request(owner: StreamOwner, host: Any, peer: PeerIdStr, protocol: str,
                  data: bytes, timeout: float) -> bytes:
    """One request/response exchange with ``peer``; raises ``RequestError`` subclasses.

    The host dials ``peer`` if needed, using the addresses recorded in its peerstore.
    """
    return await checked_request(owner.allow, owner.metrics, peer, data,
                                 partial(_exchange, host, peer, protocol, data, timeout))


async def _exchange(host: Any, peer: PeerIdStr, protocol: str, data: bytes,
                    timeout: float) -> bytes:
    stream: Any = None
    with trio.move_on_after(timeout):
        try:
            stream = await host.new_stream(ID.from_base58(peer), [TProtocol(protocol)])
        except Exception as err:  # dial, negotiation or handshake (refused) failure
            if _protocol_unsupported(err):
                raise RequestRefused(f"{peer} does not serve {protocol}") from err
            raise PeerUnreachable(f"{peer}: {type(err).__name__}: {err}") from err
        try:
            await stream.write(encode_request(data))
            status, payload = await read_response(_reader(stream), MAX_RESPONSE_BYTES)
        except FrameError as err:
            await _reset(stream)
            raise BadResponse(str(err)) from err
        except Exception as err:  # stream reset / closed by the peer mid-exchange
            await _reset(stream)
            raise PeerUnreachable(f"{peer}: {type(err).__name__}") from err
        with trio.CancelScope(shield=True), trio.move_on_after(1.0):
            try:
                await stream.close()
            except Exception:  # the response is already in hand
                pass
        if status is not Status.OK:
            raise RequestRefused(f"{peer} answered {status.name}: {payload[:80]!r}")
        return payload
    if stream is not None:
        await _reset(stream)
    raise RequestTimeout(f"no response from {peer} within {timeout} s")


def _protocol_unsupported(err: BaseException) -> bool:
    seen: BaseException | None = err
    for _ in range(10):  # the cause chain is short; bound it anyway
        if seen is None:
            return False
        if isinstance(seen, ProtocolNotSupportedError) or (
                isinstance(seen, MultiselectClientError) and "not supported" in str(seen)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def serve_stream(owner: StreamOwner, protocol: str, stream: Any) -> None:
    """Answer one incoming request stream (registered as the libp2p stream handler)."""
    peer = PeerIdStr(stream.muxed_conn.peer_id.to_base58())
    try:
        if peer not in owner.allow:
            owner.metrics(EV_REQUEST_REJECTED, R_NOT_MEMBER)
            await _respond(stream, Status.NOT_MEMBER, b"not a member")
            return
        with trio.move_on_after(owner.serve_timeout) as scope:
            try:
                data = await read_request(_reader(stream), MAX_REQUEST_BYTES)
            except FrameError:
                owner.metrics(EV_REQUEST_REJECTED, R_BAD_FRAME)
                await _reset(stream)
                return
            handler = owner.handler_for(protocol)
            if handler is None:
                owner.metrics(EV_REQUEST_REJECTED, R_NO_HANDLER)
                await _respond(stream, Status.NO_HANDLER, b"no handler")
                return
            async with owner.limiter:
                try:
                    response = await handler(peer, data)
                except Exception as err:  # a handler bug must not take the host down
                    owner.metrics(EV_REQUEST_REJECTED, R_HANDLER_ERROR)
                    await _respond(stream, Status.HANDLER_ERROR, type(err).__name__.encode())
                    return
            if len(response) > MAX_RESPONSE_BYTES:
                owner.metrics(EV_REQUEST_REJECTED, R_TOO_LARGE)
                await _respond(stream, Status.HANDLER_ERROR, b"response too large")
                return
            await _respond(stream, Status.OK, response)
            owner.metrics(EV_REQUEST_SERVED, R_OK)
        if scope.cancelled_caught:
            owner.metrics(EV_REQUEST_REJECTED, R_TIMEOUT)
            await _reset(stream)
    except Exception:  # the peer vanished mid-answer: nothing left to tell it
        owner.metrics(EV_REQUEST_REJECTED, R_BAD_FRAME)
        await _reset(stream)


async def _respond(stream: Any, status: Status, payload: bytes) -> None:
    await stream.write(encode_response(status, payload))
    await stream.close()
