"""Restart: re-feed the unfinished work found in the store into the freshly wired pipeline."""

from __future__ import annotations

from collections.abc import Sequence

import trio

from oracle_node.node_deps import NodeDeps
from oracle_node.pipeline.messages import AggregateReady, RootVerified
from oracle_node.types import BlockNumber, Epoch, MemberIndex

RESUME_WINDOW = 256
"""On start, re-feed at most this many recent unfinished blocks into the pipeline."""


async def resume(deps: NodeDeps, verified: trio.MemorySendChannel[RootVerified],
                 aggregates: Sequence[trio.MemorySendChannel[AggregateReady]]) -> None:
    """Re-feed unfinished work after a restart (nothing is re-derived or signed differently).

    Verified blocks without a group signature go back to the signer, which re-releases the
    stored signature (slashing protection returns the recorded bytes) so the exchange gossips
    and re-requests again; stored group signatures not yet confirmed on every chain go back to
    the schedulers, which skip chains that already confirmed.
    """
    last = deps.store.last_verified_block()
    confirmed = deps.store.last_confirmed()
    floor = min([confirmed.get(int(c.chain), 0) for c in deps.chains], default=0)
    pending = deps.store.aggregates_since(floor + 1)
    aggregated = {a.block for a in pending}
    for block in range(max(floor + 1, last - RESUME_WINDOW + 1), last + 1):
        record = deps.store.verified(block)
        if record is None or block in aggregated:
            continue
        await verified.send(RootVerified(BlockNumber(block), record[0], deps.epoch))
    for agg in pending[-RESUME_WINDOW:]:
        ready = AggregateReady(BlockNumber(agg.block), agg.final_root, Epoch(agg.epoch),
                               agg.signature, tuple(MemberIndex(m) for m in agg.members))
        for channel in aggregates:
            await channel.send(ready)
    await verified.aclose()
