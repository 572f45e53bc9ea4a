"""The partial exchange's ``PartialCodec`` over the canonical CBOR wire format."""

from __future__ import annotations

from oracle_node.p2p import wire
from oracle_node.p2p.errors import WireError
from oracle_node.pipeline.messages import PartialSigned
from oracle_node.pipeline.ports import PeerMessageError, WantPartials


class WireCodec:
    """``PartialCodec`` over ``oracle_node.p2p.wire`` (canonical CBOR, docs/protocol.md §7)."""

    max_bytes = wire.MAX_MESSAGE_BYTES

    def encode_partial(self, partial: PartialSigned) -> bytes:
        """A ``partial`` message."""
        return wire.encode(wire.PartialMessage.from_fact(partial))

    def encode_want(self, want: WantPartials) -> bytes:
        """A ``want_partials`` request with the ``have`` bitmap."""
        return wire.encode(wire.WantPartials(want.member, want.block_number, want.epoch,
                                             wire.members_bitmap(sorted(want.have))))

    def decode(self, data: bytes) -> PartialSigned | WantPartials:
        """Strict decoding; the wire error's reason becomes the rejection reason."""
        try:
            msg = wire.decode(data)
        except WireError as err:
            raise PeerMessageError(wire.rejection_reason(err), str(err)) from err
        if isinstance(msg, wire.PartialMessage):
            return msg.to_fact()
        if isinstance(msg, wire.WantPartials):
            have = frozenset(m for m in range(1, 8 * len(msg.have) + 1) if msg.has(m))
            return WantPartials(msg.sender, msg.block_number, msg.epoch, have)
        raise PeerMessageError("unexpected_type", type(msg).__name__)
