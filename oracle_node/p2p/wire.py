"""The wire format between nodes (docs/protocol.md §7): a versioned canonical-CBOR envelope.

``{"v": 1, "t": <type>, "from": <member index>, "body": {...}}`` plus ``"sig"`` for types whose
evidence must be portable. Decoding is strict: size is checked before parsing, the bytes must
be canonical CBOR (re-encoding reproduces them), and the envelope and body must match the
schema exactly (no missing, extra or mistyped fields). Every failure is a
:class:`~oracle_node.p2p.errors.WireError` subclass with a stable ``reason``; nothing else
escapes :func:`decode`.

Envelope signatures (decision, see docs/p2p.md): ``partial`` and ``want_partials`` carry no
``sig``. A partial BLS signature is verifiable on its own against the member's public key
share and binds (network, epoch, block, final_root), so two partials of one member for one
(block, epoch) with different roots are already portable equivocation evidence; a re-request
is evidence of nothing. ``ceremony`` messages (DKG/resharing deals, complaints) travel on
direct streams where Noise authenticates the channel but leaves nothing a third party can
check, so they carry ``sig``: the sender's libp2p identity signature over
:func:`signing_bytes` (``SIGNING_PREFIX ‖ canonical CBOR of the envelope without sig``),
verifiable by anyone from the sender's peer id in the cluster lock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import cbor2

from oracle_node.p2p.errors import (
    ExtraField,
    InvalidFieldValue,
    MalformedCbor,
    MessageTooLarge,
    MissingField,
    NotCanonical,
    UnknownType,
    UnknownVersion,
    WireError,
    WrongFieldType,
)
from oracle_node.pipeline.messages import PartialSigned
from oracle_node.types import BlockNumber, Epoch, MemberIndex

WIRE_VERSION: Final = 1
MAX_MESSAGE_BYTES: Final = 64 * 1024
"""Hard limit of one encoded message (gossip data or request/response payload)."""
SIGNING_PREFIX: Final = b"zklink-oracle/wire/v1\x00"
"""Domain separation of envelope signatures from every other use of the identity key."""
MAX_U64: Final = 2**64 - 1
MAX_MEMBERS: Final = 1024
SIGNATURE_BYTES: Final = 48
ROOT_BYTES: Final = 32
MAX_CEREMONY_ID_BYTES: Final = 64
MAX_PHASE_CHARS: Final = 32
MAX_ENVELOPE_SIG_BYTES: Final = 128

TYPE_PARTIAL: Final = "partial"
TYPE_WANT_PARTIALS: Final = "want_partials"
TYPE_CEREMONY: Final = "ceremony"


@dataclass(frozen=True)
class PartialMessage:
    """A member's partial BLS signature over the canonical message of one block."""

    sender: MemberIndex
    block_number: BlockNumber
    final_root: bytes
    epoch: Epoch
    signature: bytes

    def to_fact(self) -> PartialSigned:
        """The pipeline fact this message carries (the member is the sender)."""
        return PartialSigned(block_number=self.block_number, final_root=self.final_root,
                             epoch=self.epoch, member=self.sender, signature=self.signature)

    @classmethod
    def from_fact(cls, fact: PartialSigned) -> PartialMessage:
        """Wrap a pipeline ``PartialSigned`` for the wire (sender = its member)."""
        return cls(fact.member, fact.block_number, fact.final_root, fact.epoch, fact.signature)


@dataclass(frozen=True)
class WantPartials:
    """A re-request: "send me the partials for (block, epoch) that I lack"."""

    sender: MemberIndex
    block_number: BlockNumber
    epoch: Epoch
    have: bytes
    """Bitmap of members already held: member m is bit (m-1) % 8 (LSB first) of byte (m-1)//8."""

    def has(self, member: int) -> bool:
        """Whether the bitmap marks ``member`` (1-based) as held."""
        index = member - 1
        return 0 <= index < 8 * len(self.have) and bool(self.have[index // 8] >> (index % 8) & 1)


@dataclass(frozen=True)
class CeremonyMessage:
    """A generic DKG/resharing message; ``sig`` is the sender's identity-key signature."""

    sender: MemberIndex
    ceremony_id: bytes
    phase: str
    payload: bytes
    sig: bytes = b""


WireMessage = PartialMessage | WantPartials | CeremonyMessage


def members_bitmap(members: set[int] | frozenset[int] | list[int]) -> bytes:
    """Encode 1-based member indices as the ``have`` bitmap of :class:`WantPartials`."""
    if not members:
        return b""
    top = max(members)
    if min(members) < 1 or top > MAX_MEMBERS:
        raise ValueError("member indices must be in 1..MAX_MEMBERS")
    out = bytearray((top + 7) // 8)
    for member in members:
        out[(member - 1) // 8] |= 1 << ((member - 1) % 8)
    return bytes(out)


def _canonical(obj: object) -> bytes:
    return cbor2.dumps(obj, canonical=True)


def _envelope(msg: WireMessage) -> dict[str, Any]:
    body: dict[str, Any]
    if isinstance(msg, PartialMessage):
        body = {"block_number": msg.block_number, "final_root": msg.final_root,
                "epoch": msg.epoch, "member": msg.sender, "signature": msg.signature}
        kind = TYPE_PARTIAL
    elif isinstance(msg, WantPartials):
        body = {"block_number": msg.block_number, "epoch": msg.epoch, "have": msg.have}
        kind = TYPE_WANT_PARTIALS
    else:
        body = {"ceremony_id": msg.ceremony_id, "phase": msg.phase, "payload": msg.payload}
        kind = TYPE_CEREMONY
    return {"v": WIRE_VERSION, "t": kind, "from": msg.sender, "body": body}


def signing_bytes(msg: WireMessage) -> bytes:
    """The bytes an envelope signature covers: prefix ‖ canonical envelope without ``sig``."""
    return SIGNING_PREFIX + _canonical(_envelope(msg))


def encode(msg: WireMessage) -> bytes:
    """Canonical CBOR of ``msg``; raises ``WireError`` if it would not decode back."""
    env = _envelope(msg)
    if isinstance(msg, CeremonyMessage):
        env["sig"] = msg.sig
    data = _canonical(env)
    decode(data)  # the encoder never emits what the decoder would refuse
    return data


def sign_ceremony(msg: CeremonyMessage, sign: Callable[[bytes], bytes]) -> CeremonyMessage:
    """Return ``msg`` with ``sig`` = ``sign(signing_bytes(msg))`` (the identity key signs)."""
    return CeremonyMessage(msg.sender, msg.ceremony_id, msg.phase, msg.payload,
                           sign(signing_bytes(msg)))


def verify_ceremony(msg: CeremonyMessage, verify: Callable[[bytes, bytes], bool]) -> bool:
    """Check ``msg.sig`` with ``verify(data, sig)`` (e.g. bound to the sender's peer id)."""
    return bool(msg.sig) and verify(signing_bytes(msg), msg.sig)


def _fields(obj: Mapping[Any, Any], required: tuple[str, ...], where: str) -> None:
    for name in required:
        if name not in obj:
            raise MissingField(f"{where}: missing {name!r}")
    extra = [key for key in obj if key not in required]
    if extra:
        raise ExtraField(f"{where}: unexpected {extra[0]!r}")


def _uint(obj: Mapping[str, Any], name: str, low: int = 0, high: int = MAX_U64) -> int:
    value = obj[name]
    if type(value) is not int:
        raise WrongFieldType(f"{name}: expected unsigned int, got {type(value).__name__}")
    if not low <= value <= high:
        raise WrongFieldType(f"{name}: {value} outside {low}..{high}")
    return value


def _bytes(obj: Mapping[str, Any], name: str, *, exact: int | None = None,
           limit: int = MAX_MESSAGE_BYTES) -> bytes:
    value = obj[name]
    if type(value) is not bytes:
        raise WrongFieldType(f"{name}: expected bytes, got {type(value).__name__}")
    if exact is not None and len(value) != exact:
        raise WrongFieldType(f"{name}: expected {exact} bytes, got {len(value)}")
    if len(value) > limit:
        raise WrongFieldType(f"{name}: longer than {limit} bytes")
    return value


def _text(obj: Mapping[str, Any], name: str, limit: int) -> str:
    value = obj[name]
    if type(value) is not str:
        raise WrongFieldType(f"{name}: expected text, got {type(value).__name__}")
    if not 0 < len(value) <= limit or not value.isascii() or not value.isprintable():
        raise WrongFieldType(f"{name}: expected 1..{limit} printable ASCII characters")
    return value


def _map(value: object, where: str) -> dict[Any, Any]:
    if type(value) is not dict:
        raise WrongFieldType(f"{where}: expected a map, got {type(value).__name__}")
    if any(type(key) is not str for key in value):
        raise WrongFieldType(f"{where}: map keys must be text")
    return value


def decode(data: bytes) -> WireMessage:
    """Strictly decode one wire message; every failure is a typed ``WireError``."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(f"{len(data)} bytes > {MAX_MESSAGE_BYTES}")
    try:
        obj = cbor2.loads(data)
    except Exception as err:  # cbor2 raises several unrelated types on garbage
        raise MalformedCbor(f"not CBOR: {type(err).__name__}") from err
    try:
        canonical = _canonical(obj)
    except Exception as err:  # e.g. a decoded tag value that cannot be re-encoded
        raise NotCanonical(f"cannot re-encode: {type(err).__name__}") from err
    if canonical != data:
        raise NotCanonical("re-encoding differs from the received bytes")
    env = _map(obj, "envelope")
    for name in ("v", "t"):
        if name not in env:
            raise MissingField(f"envelope: missing {name!r}")
    if type(env["v"]) is not int or env["v"] != WIRE_VERSION:
        raise UnknownVersion(f"version {env['v']!r}")
    kind = env["t"]
    if kind not in (TYPE_PARTIAL, TYPE_WANT_PARTIALS, TYPE_CEREMONY):
        raise UnknownType(f"type {kind!r}")
    signed = kind == TYPE_CEREMONY
    _fields(env, ("v", "t", "from", "body", "sig") if signed else ("v", "t", "from", "body"),
            "envelope")
    sender = MemberIndex(_uint(env, "from", 1, MAX_MEMBERS))
    body = _map(env["body"], "body")
    return _decode_body(kind, sender, body, env)


def _decode_body(kind: str, sender: MemberIndex, body: dict[str, Any],
                 env: dict[str, Any]) -> WireMessage:
    if kind == TYPE_PARTIAL:
        _fields(body, ("block_number", "final_root", "epoch", "member", "signature"), "partial")
        member = _uint(body, "member", 1, MAX_MEMBERS)
        msg: WireMessage = PartialMessage(
            sender, BlockNumber(_uint(body, "block_number", 1)),
            _bytes(body, "final_root", exact=ROOT_BYTES), Epoch(_uint(body, "epoch", 1)),
            _bytes(body, "signature", exact=SIGNATURE_BYTES))
        if member != sender:
            raise InvalidFieldValue(f"partial: member {member} sent by {sender}")
        return msg
    if kind == TYPE_WANT_PARTIALS:
        _fields(body, ("block_number", "epoch", "have"), "want_partials")
        return WantPartials(sender, BlockNumber(_uint(body, "block_number", 1)),
                            Epoch(_uint(body, "epoch", 1)),
                            _bytes(body, "have", limit=MAX_MEMBERS // 8))
    _fields(body, ("ceremony_id", "phase", "payload"), "ceremony")
    ceremony_id = _bytes(body, "ceremony_id", limit=MAX_CEREMONY_ID_BYTES)
    if not ceremony_id:
        raise WrongFieldType("ceremony_id: empty")
    return CeremonyMessage(sender, ceremony_id, _text(body, "phase", MAX_PHASE_CHARS),
                           _bytes(body, "payload"),
                           _bytes(env, "sig", limit=MAX_ENVELOPE_SIG_BYTES))


def rejection_reason(err: WireError) -> str:
    """The metrics label of a decoding failure."""
    return err.reason
