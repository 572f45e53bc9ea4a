"""Batch verification of peer partials in the exchange (random linear combination)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import trio
from trio.testing import MockClock

from consensus import threshold
from oracle_node.app import WireCodec
from oracle_node.keys import ConsensusScheme
from oracle_node.metrics import NodeMetrics
from oracle_node.p2p import wire
from oracle_node.p2p.fake import FakeNetwork
from oracle_node.pipeline.exchange import PartialExchange
from oracle_node.pipeline.messages import PartialSigned, StepRecorded
from oracle_node.store.db import NodeStore
from oracle_node.types import BlockNumber, Epoch, MemberIndex, PeerIdStr

ROOT = b"\x42" * 32
OTHER = b"\x43" * 32


def make_schemes(t: int, n: int) -> list[ConsensusScheme]:
    """One scheme per member of a trusted-dealer t-of-n key."""
    group, shares, public = threshold.trusted_dealer_split_for_tests(t, n, b"batch-tests")
    pubs = {p.index: p.public_key for p in public}
    return [ConsensusScheme(network_id=7, threshold_t=t, group_key=group, public_shares=pubs,
                            own_share=s) for s in shares]


class CountingScheme(ConsensusScheme):
    """The real scheme, counting single and batch verifications."""

    singles = 0
    batches: list[int]

    def verify_partial(self, member: MemberIndex, message: bytes, signature: bytes) -> bool:
        """Count, then verify for real."""
        self.singles += 1
        return super().verify_partial(member, message, signature)

    def verify_partials_batch(self, message: bytes,
                              partials: Sequence[tuple[MemberIndex, bytes]]) -> bool:
        """Count the batch size, then verify for real."""
        self.batches.append(len(partials))
        return super().verify_partials_batch(message, partials)


def counting(scheme: ConsensusScheme) -> CountingScheme:
    """A counting copy of ``scheme`` (same keys)."""
    out = CountingScheme.__new__(CountingScheme)
    out.__dict__.update(scheme.__dict__)
    out.batches = []
    return out


def encoded(scheme: ConsensusScheme, root: bytes = ROOT, member: int | None = None) -> bytes:
    """Wire bytes of ``scheme``'s partial on block 1 (``member`` overrides the claimed sender)."""
    msg = scheme.signing_message(epoch=Epoch(1), block_number=BlockNumber(1), final_root=root)
    index = MemberIndex(member or scheme.own_index)
    return wire.encode(wire.PartialMessage.from_fact(
        PartialSigned(BlockNumber(1), root, Epoch(1), index, scheme.sign_own(msg))))


async def run_batch(tmp_path: Path, scheme: CountingScheme, metrics: NodeMetrics,
                    messages: list[tuple[PeerIdStr, bytes]]) -> list[int]:
    """Feed ``messages`` as one batch to member 1's exchange; the members forwarded."""
    network = FakeNetwork(delay=0.01)
    peers = {PeerIdStr(f"p{i}"): MemberIndex(i) for i in range(1, 8)}
    _own_tx, own_rx = trio.open_memory_channel[PartialSigned](8)
    out_tx, out_rx = trio.open_memory_channel[PartialSigned](32)
    steps_tx, _ = trio.open_memory_channel[StepRecorded](8)
    store = NodeStore.open(":memory:")
    exchange = PartialExchange(own=own_rx, verified=out_tx, steps=steps_tx,
                               transport=network.add_node(PeerIdStr("p1"), allowed=list(peers)),
                               codec=WireCodec(), scheme=scheme, peers=peers, store=store,
                               metrics=metrics, topic="t", evidence_dir=tmp_path)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(network.run)
            await nursery.start(exchange.run)
            await exchange.on_peer_messages(messages)
            nursery.cancel_scope.cancel()
    finally:
        store.close()
    out_tx.close()
    return [int(p.member) async for p in out_rx]


async def test_valid_batch_costs_one_check(tmp_path: Path, autojump_clock: MockClock) -> None:
    schemes = make_schemes(5, 7)
    scheme = counting(schemes[0])
    metrics = NodeMetrics(cluster="c", peer="p1")
    msgs = [(PeerIdStr(f"p{i}"), encoded(schemes[i - 1])) for i in range(2, 8)]
    got = await run_batch(tmp_path, scheme, metrics, [*msgs, msgs[0]])  # + a duplicate
    assert got == [2, 3, 4, 5, 6, 7]
    assert scheme.batches == [6]
    assert scheme.singles == 0
    assert metrics.value(metrics.partial_batches, outcome="ok") == 1
    assert metrics.value(metrics.partials_received) == 6


async def test_bad_partial_in_batch_is_found_and_counted(tmp_path: Path,
                                                         autojump_clock: MockClock) -> None:
    schemes = make_schemes(5, 7)
    scheme = counting(schemes[0])
    metrics = NodeMetrics(cluster="c", peer="p1")
    # member 4's message carries member 5's signature; member 6 signs another root
    msgs = [(PeerIdStr("p2"), encoded(schemes[1])), (PeerIdStr("p3"), encoded(schemes[2])),
            (PeerIdStr("p4"), encoded(schemes[4], member=4)),
            (PeerIdStr("p6"), encoded(schemes[5], root=OTHER)),
            (PeerIdStr("p7"), encoded(schemes[6]))]
    got = await run_batch(tmp_path, scheme, metrics, msgs)
    assert sorted(got) == [2, 3, 6, 7]
    assert scheme.batches == [4]  # the ROOT group; OTHER has a single partial
    assert scheme.singles == 4 + 1  # fallback over the ROOT group, plus the lone OTHER one
    assert metrics.value(metrics.partial_batches, outcome="fallback") == 1
    assert metrics.value(metrics.partials_invalid, reason="bad_signature") == 1
    assert metrics.value(metrics.partials_received) == 4
