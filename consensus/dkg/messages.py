"""DKG wire messages (canonical CBOR) with strict, exception-safe decoding.

Three kinds, all broadcast: ``deal`` (a dealer's Feldman commitments and one encrypted share per
recipient), ``response`` (a recipient's complaints against dealers), ``justification`` (a
dealer's plaintext shares for the recipients who complained). Every message names its
ceremony id and its sender index; the transport must authenticate that the sender really is
that member (the node's wire envelope is signed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cbor2

from consensus.dkg.ecies import CIPHERTEXT_SIZE
from consensus.errors import DkgMessageError

MAX_MESSAGE_SIZE = 256 * 1024
MAX_ITEMS = 1024
CEREMONY_ID_SIZE = 32


@dataclass(frozen=True)
class Deal:
    """A dealer's commitments (G2, compressed) and encrypted shares keyed by recipient index."""

    ceremony_id: bytes
    dealer: int
    commitments: tuple[bytes, ...]
    encrypted_shares: tuple[tuple[int, bytes], ...]


@dataclass(frozen=True)
class Response:
    """A recipient's complaints: the dealers whose share to it was missing or invalid."""

    ceremony_id: bytes
    recipient: int
    complaints: tuple[int, ...]


@dataclass(frozen=True)
class Justification:
    """A dealer's revealed shares (32-byte scalars) for the recipients that complained."""

    ceremony_id: bytes
    dealer: int
    revealed: tuple[tuple[int, bytes], ...]


DkgMessage = Deal | Response | Justification


def encode_message(msg: DkgMessage) -> bytes:
    """Canonical CBOR encoding of a DKG message."""
    body: dict[str, Any]
    if isinstance(msg, Deal):
        body = {"k": "deal", "c": msg.ceremony_id, "f": msg.dealer,
                "cm": list(msg.commitments), "s": dict(msg.encrypted_shares)}
    elif isinstance(msg, Response):
        body = {"k": "response", "c": msg.ceremony_id, "f": msg.recipient,
                "cp": sorted(msg.complaints)}
    else:
        body = {"k": "justification", "c": msg.ceremony_id, "f": msg.dealer,
                "r": dict(msg.revealed)}
    return bytes(cbor2.dumps(body, canonical=True))


def _index(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ITEMS:
        raise DkgMessageError(f"bad member index {value!r}")
    return value


def _bytes(value: object, size: int, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise DkgMessageError(f"{what} must be {size} bytes")
    return value


def _index_map(value: object, size: int, what: str) -> tuple[tuple[int, bytes], ...]:
    if not isinstance(value, dict) or len(value) > MAX_ITEMS:
        raise DkgMessageError(f"{what} must be a map of at most {MAX_ITEMS} entries")
    return tuple(sorted((_index(k), _bytes(v, size, what)) for k, v in value.items()))


def _decode(data: bytes) -> DkgMessage:
    if not isinstance(data, bytes | bytearray) or len(data) > MAX_MESSAGE_SIZE:
        raise DkgMessageError("message is not bytes or exceeds the size limit")
    try:
        body = cbor2.loads(bytes(data))
    except Exception as err:  # cbor2 raises many types on hostile input; all mean "not CBOR"
        raise DkgMessageError(f"not canonical CBOR: {type(err).__name__}") from err
    if not isinstance(body, dict):
        raise DkgMessageError("message is not a map")
    kind = body.get("k")
    keys = {"deal": {"k", "c", "f", "cm", "s"}, "response": {"k", "c", "f", "cp"},
            "justification": {"k", "c", "f", "r"}}.get(kind if isinstance(kind, str) else "")
    if keys is None or set(body) != keys:
        raise DkgMessageError("unknown message kind or unexpected fields")
    ceremony_id = _bytes(body["c"], CEREMONY_ID_SIZE, "ceremony id")
    sender = _index(body["f"])
    if kind == "deal":
        commitments = body["cm"]
        if not isinstance(commitments, list) or not 0 < len(commitments) <= MAX_ITEMS:
            raise DkgMessageError("commitments must be a non-empty list")
        return Deal(ceremony_id, sender,
                    tuple(_bytes(c, 96, "commitment") for c in commitments),
                    _index_map(body["s"], CIPHERTEXT_SIZE, "encrypted share"))
    if kind == "response":
        complaints = body["cp"]
        if not isinstance(complaints, list) or len(complaints) > MAX_ITEMS:
            raise DkgMessageError("complaints must be a list")
        indices = tuple(_index(i) for i in complaints)
        if len(set(indices)) != len(indices):
            raise DkgMessageError("duplicate complaint")
        return Response(ceremony_id, sender, tuple(sorted(indices)))
    return Justification(ceremony_id, sender, _index_map(body["r"], 32, "revealed share"))


def decode_message(data: bytes) -> DkgMessage:
    """Strictly decode a DKG message; raise ``DkgMessageError`` and nothing else.

    The encoding must be canonical (re-encoding gives the same bytes), so one message has
    exactly one byte representation and equivocation is detectable by comparing bytes.
    """
    try:
        msg = _decode(data)
    except DkgMessageError:
        raise
    except Exception as err:  # defensive: hostile input must never escape untyped
        raise DkgMessageError(f"malformed message: {type(err).__name__}") from err
    if encode_message(msg) != bytes(data):
        raise DkgMessageError("message is not canonically encoded")
    return msg
