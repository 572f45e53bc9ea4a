"""Before a resharing: new members announce their share-encryption keys (``hello``).

A governance proposal lists each new member's G2 member key (with a proof of possession) but
the DKG encrypts shares to G1 keys. Each new member therefore sends its G1 key ``s·G1`` to
every participant on a direct, acknowledged stream; a receiver accepts it only if the envelope
is signed by that member's identity and ``e(s·G1, G2) = e(G1, member key)``, so the key is
bound to the proposal on chain. Hellos may arrive before the receiver has seen the proposal:
they are kept (bounded) and checked once it has.
"""

from __future__ import annotations

import cbor2
import trio
from libp2p.crypto.keys import KeyPair

from consensus.bls import PublicKey
from oracle_node.ceremony.definition import encryption_key_matches
from oracle_node.ceremony.errors import CeremonyError
from oracle_node.errors import P2PError
from oracle_node.p2p import wire
from oracle_node.p2p.errors import WireError
from oracle_node.p2p.identity import peer_id_of, sign_with_identity, verify_peer_signature
from oracle_node.ports import Transport
from oracle_node.types import MemberIndex, PeerIdStr

MAX_PENDING_HELLOS = 4096
"""Bound on hellos kept for proposals this node has not seen yet."""


def hello_protocol(network_id: int) -> str:
    """Request/response protocol id of hellos on network ``network_id``."""
    return f"/zklink-oracle/{network_id}/ceremony-hello/1"


class HelloExchange:
    """Serves and sends hellos; ``exchange`` returns every new member's checked G1 key."""

    def __init__(self, *, transport: Transport, network_id: int, identity: KeyPair,
                 timeout: float) -> None:
        """``timeout``: how long ``exchange`` waits for every new member's hello."""
        self._transport = transport
        self._protocol = hello_protocol(network_id)
        self._identity = identity
        self._timeout = timeout
        self._received: dict[tuple[bytes, PeerIdStr], bytes] = {}
        self._changed = trio.Event()

    def install(self) -> None:
        """Register the request handler (once, when the rotation component starts)."""
        self._transport.set_request_handler(self._protocol, self._handle)

    async def _handle(self, peer: PeerIdStr, request: bytes) -> bytes:
        await trio.lowlevel.checkpoint()
        try:
            msg = wire.decode(request)
        except WireError as err:
            return _answer(f"wire:{wire.rejection_reason(err)}")
        if not isinstance(msg, wire.CeremonyMessage) or msg.phase != "hello":
            return _answer("not_a_hello")
        if not wire.verify_ceremony(msg, lambda d, s: verify_peer_signature(peer, d, s)):
            return _answer("bad_envelope_signature")
        if len(self._received) >= MAX_PENDING_HELLOS:
            return _answer("too_many_hellos")
        self._received[(msg.ceremony_id, peer)] = msg.payload
        self._changed.set()
        return _answer("")

    async def exchange(self, ceremony_id: bytes, *,
                       members: dict[PeerIdStr, tuple[int, PublicKey]],
                       peers: set[PeerIdStr],
                       own: tuple[int, bytes] | None) -> dict[PeerIdStr, bytes]:
        """Send our hello (if we are a new member) and collect every new member's key.

        ``members``: new member peer -> (index, member key); ``peers``: the old members (they
        receive hellos too). Raises ``CeremonyError`` naming the members that never sent a
        valid key within the timeout.
        """
        me = peer_id_of(self._identity)
        keys: dict[PeerIdStr, bytes] = {}
        bad: dict[PeerIdStr, str] = {}
        with trio.move_on_after(self._timeout) as scope:
            async with trio.open_nursery() as nursery:
                if own is not None:
                    keys[me] = own[1]
                    msg = wire.sign_ceremony(wire.CeremonyMessage(
                        MemberIndex(own[0]), ceremony_id, "hello", own[1]),
                        lambda data: sign_with_identity(self._identity, data))
                    data = wire.encode(msg)
                    for peer in sorted((peers | set(members)) - {me}):
                        nursery.start_soon(self._deliver, peer, data)
                while True:
                    for peer, (_, member_key) in members.items():
                        got = self._received.get((ceremony_id, peer))
                        if peer in keys or got is None:
                            continue
                        if encryption_key_matches(got, member_key):
                            keys[peer] = got
                        else:
                            bad[peer] = "encryption key does not match its member key"
                    if len(keys) == len(members):
                        break
                    self._changed = trio.Event()
                    await self._changed.wait()
                # keep delivering our own hello until every peer acknowledged (bounded above)
        if scope.cancelled_caught and len(keys) < len(members):
            missing = sorted(set(members) - set(keys))
            detail = ", ".join(f"member {members[p][0]} ({p}): {bad.get(p, 'no hello')}"
                               for p in missing)
            raise CeremonyError(f"new members without a valid encryption key: {detail}")
        for key in [k for k in self._received if k[0] == ceremony_id]:
            del self._received[key]
        return keys

    async def _deliver(self, peer: PeerIdStr, data: bytes) -> None:
        failures = 0
        while True:
            try:
                await self._transport.request(peer, self._protocol, data, timeout=5.0)
                return
            except P2PError:
                failures += 1
                await trio.sleep(min(2.0, 0.1 * 2 ** min(failures, 6)))


def _answer(reason: str) -> bytes:
    return bytes(cbor2.dumps({"s": "rejected" if reason else "ok", "r": reason},
                             canonical=True))
