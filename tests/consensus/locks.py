"""A cluster lock from a real in-process DKG, for tests of what is built on locks."""

from __future__ import annotations

from consensus.dkg import dkg_participants, run_ceremony
from consensus.lock import ClusterLock, LockMember
from consensus.threshold import KeyShare


def dkg_lock(seed: bytes, *, n: int = 4, t: int = 3,
             name: str = "devnet") -> tuple[ClusterLock, list[KeyShare]]:
    """A t-of-n lock (epoch 1) and every member's share, in member order."""
    finished = run_ceremony(dkg_participants(n, t, seed=seed))
    result = finished[0].result
    assert result is not None
    members = [LockMember(p.config.recipients[i].index, f"node-{i + 1}",
                          p.config.recipients[i].encryption_key)
               for i, p in enumerate(finished)]
    shares = [p.result.share for p in finished if p.result is not None and p.result.share]
    return ClusterLock.from_dkg(result, name=name, epoch=1, members=members), shares
