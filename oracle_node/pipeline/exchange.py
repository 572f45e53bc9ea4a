"""Partial store and exchange: gossip own partials, verify and store peers', re-request gaps.

* Own partials (from the signer) are stored, gossiped on the cluster topic and forwarded.
* Peer partials arrive by gossip or in a ``want_partials`` response. Each is checked in order:
  sender is an allow-listed member (``non_member``), the bytes decode (the wire error's
  reason), the member's BLS partial verifies against its public key share
  (``bad_signature``). Valid ones are stored and forwarded to the aggregator once.
* Partials that are pending together (one drain of the gossip inbox, one re-request reply)
  are grouped by signing message; a group of two or more is checked with one batch
  verification (random linear combination, two pairings). If the batch fails, each partial
  is checked alone so the bad one is identified and counted (``bad_signature``).
* A member with two different valid partials for one (block, epoch) equivocated: both
  messages (canonical wire bytes) and signatures go to a JSON evidence file, are indexed in
  the database and counted. The second partial is not forwarded.
* Gossip is best-effort, so after ``rerequest_after`` seconds without t partials for a root
  this node signed, it asks each member it lacks directly (request/response protocol).

Every rejection is a counted value; nothing a peer sends can crash the component.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cbor2
import trio

from oracle_node.errors import OracleNodeError
from oracle_node.metrics import NodeMetrics
from oracle_node.pipeline.messages import EquivocationDetected, PartialSigned, StepRecorded
from oracle_node.pipeline.ports import (
    FixedSchemeBook,
    PartialCodec,
    PeerMessageError,
    SchemeBook,
    SignerSetView,
    ThresholdScheme,
    WantPartials,
)
from oracle_node.ports import Transport
from oracle_node.store.db import NodeStore, StoredPartial
from oracle_node.types import BlockNumber, Epoch, MemberIndex, PeerIdStr

if TYPE_CHECKING:
    from trio import TaskStatus

log = logging.getLogger("oracle_node.exchange")

WANT_PROTOCOL = "/zklink-oracle/want-partials/1"
"""Request/response protocol id for re-requests."""
MAX_BATCH = 64
"""At most this many queued gossip messages are taken (and batch-verified) at once."""
KEEP_BLOCKS = 1024
"""In-memory partials are kept for this many blocks below the newest (the DB keeps all)."""


def partials_topic(cluster: str) -> str:
    """The gossip topic carrying a cluster's partial signatures."""
    return f"/zklink-oracle/{cluster}/partials/1"


@dataclass
class _Watch:
    final_root: bytes
    since: float
    attempts: int = 0


@dataclass
class _Seen:
    by_member: dict[int, dict[bytes, bytes]] = field(default_factory=dict)
    """member -> {final_root: signature} for one (block, epoch)."""


class PartialExchange:
    """Consumes own ``PartialSigned``; emits verified ``PartialSigned`` (own and peers')."""

    def __init__(self, *, own: trio.MemoryReceiveChannel[PartialSigned],
                 verified: trio.MemorySendChannel[PartialSigned],
                 steps: trio.MemorySendChannel[StepRecorded],
                 transport: Transport, codec: PartialCodec, scheme: ThresholdScheme,
                 peers: Mapping[PeerIdStr, MemberIndex], store: NodeStore,
                 metrics: NodeMetrics, topic: str, evidence_dir: Path,
                 evidence: trio.MemorySendChannel[EquivocationDetected] | None = None,
                 rerequest_after: float = 3.0, rerequest_attempts: int = 5,
                 request_timeout: float = 5.0, batch_verify: bool = True,
                 book: SchemeBook | None = None) -> None:
        """Wire the exchange; ``peers`` maps every member's peer id to its member index.

        ``batch_verify=False`` checks every peer partial alone (benchmark baseline).
        ``book`` (signer-set rotation) picks the set per block and replaces ``scheme`` and
        ``peers``; a peer partial for a block whose set this node cannot decide yet is
        dropped (``unplaced_block``) and recovered by the re-request once the node signed.
        """
        self._own = own
        self._verified = verified
        self._steps = steps
        self._transport = transport
        self._codec = codec
        self._book: SchemeBook = book or FixedSchemeBook(scheme, peers)
        self._store = store
        self._metrics = metrics
        self._topic = topic
        self._evidence_dir = evidence_dir
        self._evidence = evidence
        self._rerequest_after = rerequest_after
        self._rerequest_attempts = rerequest_attempts
        self._request_timeout = request_timeout
        self._batch_verify = batch_verify
        self._seen: dict[tuple[int, int], _Seen] = {}
        self._watch: dict[tuple[int, int], _Watch] = {}

    async def run(self, *, task_status: TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve re-requests, gossip and re-request until cancelled or the input closes."""
        self._transport.set_request_handler(WANT_PROTOCOL, self._serve_want)
        inbox = await self._transport.subscribe(self._topic)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._gossip_loop, inbox)
            nursery.start_soon(self._rerequest_loop)
            task_status.started()
            async with self._own, self._verified:
                async for partial in self._own:
                    await self._on_own(partial)
            nursery.cancel_scope.cancel()

    # -- own partials ---------------------------------------------------------------------
    async def _on_own(self, p: PartialSigned) -> None:
        key = (int(p.block_number), int(p.epoch))
        if key not in self._seen:
            # After a restart: partials verified and stored before count again.
            for sp in self._store.partials(*key):
                await self._accept(PartialSigned(p.block_number, sp.final_root, p.epoch,
                                                 MemberIndex(sp.member), sp.signature),
                                   from_peer=False)
        await self._accept(p, from_peer=False)
        self._watch.setdefault(key, _Watch(p.final_root, trio.current_time()))
        data = self._codec.encode_partial(p)
        try:
            await self._transport.publish(self._topic, data)
            self._metrics.inc(self._metrics.partials_sent)
        except OracleNodeError as err:
            # Gossip is best-effort; the re-request path recovers what did not arrive.
            self._metrics.inc(self._metrics.drops, reason="publish_failed")
            log.warning("publish_failed block=%d error=%r", p.block_number, str(err))

    # -- inbound --------------------------------------------------------------------------
    async def _gossip_loop(self, inbox: trio.MemoryReceiveChannel[tuple[PeerIdStr, bytes]]
                           ) -> None:
        async for first in inbox:
            batch = [first]
            while len(batch) < MAX_BATCH:  # whatever queued up meanwhile is verified together
                try:
                    batch.append(inbox.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            await self.on_peer_messages([(peer, data) for peer, data in batch
                                         if peer != self._transport.local_peer])

    async def on_peer_bytes(self, peer: PeerIdStr, data: bytes) -> None:
        """Handle one gossip message from ``peer`` (counted rejection on anything bad)."""
        await self.on_peer_messages([(peer, data)])

    async def on_peer_messages(self, messages: Sequence[tuple[PeerIdStr, bytes]]) -> None:
        """Handle peer messages that arrived together; valid partials are batch-verified."""
        partials: list[PartialSigned] = []
        for peer, data in messages:
            if not self._book.is_member_peer(peer):
                self._reject("non_member")
                continue
            try:
                msg = self._codec.decode(bytes(data))
            except PeerMessageError as err:
                self._reject(err.reason)
                continue
            if not isinstance(msg, PartialSigned):
                self._reject("unexpected_type")
                continue
            partials.append(msg)
        valid = self._verify_pending(partials)
        for p in partials:
            if id(p) in valid:
                await self._accept(p, from_peer=True)

    def _verify_pending(self, partials: Sequence[PartialSigned]) -> set[int]:
        """Ids of the partials that still need storing and carry a valid signature.

        Already-known partials are settled without a pairing (same bytes: ignored, other
        bytes for a stored root: ``bad_signature``, BLS being deterministic).
        """
        groups: dict[tuple[int, int, bytes], list[PartialSigned]] = {}
        fresh: set[tuple[int, int, int, bytes, bytes]] = set()
        schemes: dict[int, ThresholdScheme] = {}
        for p in partials:
            view = self._book.set_for(p.block_number)
            if view is None:
                self._reject("unplaced_block")
                continue
            if p.member not in view.scheme.members:
                self._reject("unknown_member")
                continue
            seen = self._seen.get((int(p.block_number), int(p.epoch)))
            stored = seen.by_member.get(int(p.member), {}) if seen is not None else {}
            if p.final_root in stored:
                if stored[p.final_root] != p.signature:
                    self._reject("bad_signature")
                continue
            ident = (int(p.block_number), int(p.epoch), int(p.member), p.final_root,
                     p.signature)
            if ident in fresh:
                continue  # the same message twice in one batch
            fresh.add(ident)
            groups.setdefault((ident[0], ident[1], p.final_root), []).append(p)
            schemes[ident[0]] = view.scheme
        valid: set[int] = set()
        for (block, epoch, root), group in groups.items():
            scheme = schemes[block]
            message = scheme.signing_message(epoch=Epoch(epoch), block_number=BlockNumber(block),
                                             final_root=root)
            if len(group) > 1 and self._batch_verify:
                if scheme.verify_partials_batch(message,
                                                      [(p.member, p.signature) for p in group]):
                    self._metrics.inc(self._metrics.partial_batches, outcome="ok")
                    valid.update(id(p) for p in group)
                    continue
                self._metrics.inc(self._metrics.partial_batches, outcome="fallback")
            for p in group:  # alone, or the batch failed: find the bad one(s)
                if scheme.verify_partial(p.member, message, p.signature):
                    valid.add(id(p))
                else:
                    self._reject("bad_signature")
        return valid

    def _reject(self, reason: str) -> None:
        self._metrics.inc(self._metrics.partials_invalid, reason=reason)

    async def _accept(self, p: PartialSigned, *, from_peer: bool) -> None:
        """Store and forward a partial whose signature is already known to be valid."""
        view = self._book.set_for(p.block_number)
        if view is None:
            self._reject("unplaced_block")
            return
        if p.member not in view.scheme.members:
            self._reject("unknown_member")
            return
        key = (int(p.block_number), int(p.epoch))
        if key not in self._seen:
            self._prune(key[0])
        seen = self._seen.setdefault(key, _Seen())
        mine = seen.by_member.setdefault(int(p.member), {})
        if p.final_root in mine:
            if mine[p.final_root] != p.signature:
                self._reject("bad_signature")  # BLS is deterministic: a valid one is stored
            return
        if mine:
            (other_root, other_sig), *_ = mine.items()
            mine[p.final_root] = p.signature
            await self._equivocation(p, other_root, other_sig, view.scheme)
            return
        mine[p.final_root] = p.signature
        self._store.add_partial(StoredPartial(key[0], key[1], int(p.member), p.final_root,
                                              p.signature))
        if from_peer:
            self._metrics.inc(self._metrics.partials_received)
        await self._verified.send(p)

    def _prune(self, newest: int) -> None:
        if len(self._seen) > KEEP_BLOCKS:
            for old in [k for k in self._seen if k[0] < newest - KEEP_BLOCKS]:
                del self._seen[old]
                self._watch.pop(old, None)

    async def _equivocation(self, p: PartialSigned, other_root: bytes, other_sig: bytes,
                            scheme: ThresholdScheme) -> None:
        first = PartialSigned(p.block_number, other_root, p.epoch, p.member, other_sig)
        records = []
        for fact in (first, p):
            message = scheme.signing_message(epoch=fact.epoch, block_number=fact.block_number,
                                             final_root=fact.final_root)
            records.append({
                "wire": self._codec.encode_partial(fact).hex(),
                "final_root": fact.final_root.hex(), "signature": fact.signature.hex(),
                "signing_message": message.hex()})
        doc = {"kind": "equivocation", "block_number": int(p.block_number),
               "epoch": int(p.epoch), "member": int(p.member), "partials": records}
        self._evidence_dir.mkdir(parents=True, exist_ok=True)
        path = self._evidence_dir / (f"equivocation-b{int(p.block_number)}-e{int(p.epoch)}"
                                     f"-m{int(p.member)}.json")
        if not self._store.record_evidence(int(p.block_number), int(p.epoch), int(p.member),
                                           str(path)):
            return
        path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        self._metrics.inc(self._metrics.equivocations)
        log.error("equivocation block=%d epoch=%d member=%d evidence=%s", p.block_number,
                  p.epoch, p.member, path)
        if self._evidence is not None:
            await self._evidence.send(EquivocationDetected(p.block_number, p.epoch, p.member,
                                                           str(path)))

    # -- re-requests ----------------------------------------------------------------------
    async def _serve_want(self, peer: PeerIdStr, data: bytes) -> bytes:
        if not self._book.is_member_peer(peer):
            self._reject("non_member")
            return cbor2.dumps([], canonical=True)
        try:
            msg = self._codec.decode(bytes(data))
        except PeerMessageError as err:
            self._reject(err.reason)
            return cbor2.dumps([], canonical=True)
        if not isinstance(msg, WantPartials):
            self._reject("unexpected_type")
            return cbor2.dumps([], canonical=True)
        seen = self._seen.get((int(msg.block_number), int(msg.epoch)))
        items: list[bytes] = []
        if seen is not None:
            for member, roots in sorted(seen.by_member.items()):
                if member in msg.have or len(roots) != 1:
                    continue  # never relay an equivocator's partials
                ((root, sig),) = roots.items()
                items.append(self._codec.encode_partial(PartialSigned(
                    msg.block_number, root, msg.epoch, MemberIndex(member), sig)))
        self._metrics.inc(self._metrics.partials_sent, len(items))
        return cbor2.dumps(items, canonical=True)

    def _count_for(self, key: tuple[int, int], root: bytes) -> int:
        seen = self._seen.get(key)
        if seen is None:
            return 0
        return sum(1 for roots in seen.by_member.values() if root in roots)

    async def _rerequest_loop(self) -> None:
        while True:
            await trio.sleep(self._rerequest_after / 2)
            now = trio.current_time()
            for key, watch in list(self._watch.items()):
                view = self._book.set_for(BlockNumber(key[0]))
                if view is None or self._count_for(key, watch.final_root) >= \
                        view.scheme.threshold:
                    del self._watch[key]
                    continue
                if now - watch.since < self._rerequest_after * (watch.attempts + 1):
                    continue
                watch.attempts += 1
                if watch.attempts > self._rerequest_attempts:
                    del self._watch[key]
                    continue
                await self._rerequest(key, view)

    async def _rerequest(self, key: tuple[int, int], view: SignerSetView) -> None:
        scheme = view.scheme
        seen = self._seen.get(key, _Seen())
        have = [m for m, roots in seen.by_member.items() if roots]
        want = self._codec.encode_want(WantPartials(scheme.own_index,
                                                    BlockNumber(key[0]), Epoch(key[1]),
                                                    frozenset(have)))
        connected = set(self._transport.connected_peers())
        member_peers = {m: p for p, m in view.peers.items()}
        for member, peer in sorted(member_peers.items()):
            if member in have or member == scheme.own_index or peer not in connected:
                continue
            self._metrics.inc(self._metrics.rerequests)
            try:
                with trio.fail_after(self._request_timeout):
                    reply = await self._transport.request(peer, WANT_PROTOCOL, want,
                                                          timeout=self._request_timeout)
            except (OracleNodeError, trio.TooSlowError) as err:
                self._metrics.inc(self._metrics.drops, reason="rerequest_failed")
                log.debug("rerequest_failed peer=%s error=%r", peer, str(err))
                continue
            await self._on_batch(peer, reply, len(scheme.members))
            if self._count_for(key, self._watch[key].final_root if key in self._watch
                               else b"") >= scheme.threshold:
                return

    async def _on_batch(self, peer: PeerIdStr, reply: bytes, limit: int) -> None:
        if len(reply) > self._codec.max_bytes:
            self._reject("too_large")
            return
        try:
            items = cbor2.loads(reply)
        except Exception:  # cbor2 raises several unrelated types on garbage
            self._reject("malformed_cbor")
            return
        if not isinstance(items, list) or len(items) > limit:
            self._reject("malformed_batch")
            return
        for item in items:
            if not isinstance(item, bytes):
                self._reject("malformed_batch")
        await self.on_peer_messages([(peer, item) for item in items if isinstance(item, bytes)])
