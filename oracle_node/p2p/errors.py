"""Exceptions of the p2p adapters (all below ``oracle_node.errors.P2PError``).

Bad bytes from a peer are values for the caller to count: :class:`WireError` subclasses carry
a stable ``reason`` code used as the metrics label. Failed requests raise
:class:`RequestError` subclasses, also with a ``reason``.
"""

from __future__ import annotations

from typing import ClassVar

from oracle_node.errors import P2PError


class WireError(P2PError):
    """Raised by ``oracle_node.p2p.wire.decode`` when bytes are not a valid wire message."""

    reason: ClassVar[str] = "malformed"


class MessageTooLarge(WireError):
    """Raised when an encoded message exceeds ``MAX_MESSAGE_BYTES`` (checked before decoding)."""

    reason = "too_large"


class MalformedCbor(WireError):
    """Raised when the bytes are not one well-formed CBOR item."""

    reason = "malformed_cbor"


class NotCanonical(WireError):
    """Raised when the CBOR is well-formed but not in canonical form (re-encoding differs)."""

    reason = "not_canonical"


class UnknownVersion(WireError):
    """Raised when the envelope's ``v`` is not a supported version."""

    reason = "unknown_version"


class UnknownType(WireError):
    """Raised when the envelope's ``t`` names no known message type."""

    reason = "unknown_type"


class MissingField(WireError):
    """Raised when the envelope or body lacks a required field."""

    reason = "missing_field"


class ExtraField(WireError):
    """Raised when the envelope or body carries a field the schema does not define."""

    reason = "extra_field"


class WrongFieldType(WireError):
    """Raised when a field has the wrong CBOR type, length or range."""

    reason = "wrong_field_type"


class InvalidFieldValue(WireError):
    """Raised when fields are well-typed but inconsistent (e.g. ``from`` ≠ ``body.member``)."""

    reason = "invalid_field_value"


class PayloadTooLarge(P2PError):
    """Raised locally when asked to publish or send more than the configured size limit."""


class NotStartedError(P2PError):
    """Raised when a transport is used before its ``run`` task has started it."""


class RequestError(P2PError):
    """Raised by ``Transport.request`` when no valid response arrived."""

    reason: ClassVar[str] = "request_failed"


class RequestTimeout(RequestError):
    """Raised when the peer did not answer within the timeout."""

    reason = "timeout"


class PeerUnreachable(RequestError):
    """Raised when no connection or stream to the peer could be opened."""

    reason = "unreachable"


class PeerNotAllowed(RequestError):
    """Raised when the target peer is not in the current allow-list."""

    reason = "not_member"


class RequestRefused(RequestError):
    """Raised when the peer answered with an error status (no handler, handler failed, refused)."""

    reason = "refused"


class BadResponse(RequestError):
    """Raised when the response frame is malformed or larger than the limit."""

    reason = "bad_response"
