"""Length-prefixed frames of the request/response protocol (one exchange per stream).

Request:  ``u32 length ‖ payload``.
Response: ``u8 status ‖ u32 length ‖ payload`` (payload is the handler's answer when
status is OK, else a short ASCII reason).
Both directions enforce a size limit before reading the payload.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import IntEnum
from typing import Final

from oracle_node.errors import P2PError

LENGTH_BYTES: Final = 4


class Status(IntEnum):
    """Response status codes (a stable part of the protocol)."""

    OK = 0
    NO_HANDLER = 1
    HANDLER_ERROR = 2
    NOT_MEMBER = 3
    BAD_REQUEST = 4


class FrameError(P2PError):
    """Raised when a frame is truncated, or its declared length exceeds the limit."""


def encode_request(payload: bytes) -> bytes:
    """Frame a request payload."""
    return len(payload).to_bytes(LENGTH_BYTES, "big") + payload


def encode_response(status: Status, payload: bytes) -> bytes:
    """Frame a response payload with its status."""
    return bytes([status]) + len(payload).to_bytes(LENGTH_BYTES, "big") + payload


ReadSome = Callable[[int], Awaitable[bytes]]
"""Reads up to n bytes; returns b"" at end of stream."""


async def read_exactly(read: ReadSome, n: int) -> bytes:
    """Read exactly ``n`` bytes or raise ``FrameError`` on a premature end of stream."""
    chunks: list[bytes] = []
    missing = n
    while missing > 0:
        chunk = await read(missing)
        if not chunk:
            raise FrameError(f"stream ended {missing} bytes short")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


async def read_request(read: ReadSome, limit: int) -> bytes:
    """Read one request frame of at most ``limit`` payload bytes."""
    length = int.from_bytes(await read_exactly(read, LENGTH_BYTES), "big")
    if length > limit:
        raise FrameError(f"request of {length} bytes exceeds {limit}")
    return await read_exactly(read, length)


async def read_response(read: ReadSome, limit: int) -> tuple[Status, bytes]:
    """Read one response frame of at most ``limit`` payload bytes."""
    head = await read_exactly(read, 1 + LENGTH_BYTES)
    try:
        status = Status(head[0])
    except ValueError as err:
        raise FrameError(f"unknown status {head[0]}") from err
    length = int.from_bytes(head[1:], "big")
    if length > limit:
        raise FrameError(f"response of {length} bytes exceeds {limit}")
    return status, await read_exactly(read, length)
