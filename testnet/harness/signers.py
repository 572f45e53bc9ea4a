"""The signer set of a local cluster — TRUSTED DEALER (testnet only, ``up --keys dealer``).

The default (``--keys dkg``, :mod:`testnet.harness.dkg`) is the real DKG among the node
processes. With ``--keys dealer`` the harness creates every member's key share itself, in
one process, and writes each node its share: whoever runs the harness knows the whole group
key. It runs the DKG state machines of ``consensus.dkg`` for
all members in memory (``run_ceremony``) because that yields what the cluster lock needs
(Feldman commitments, public shares, members' encryption keys) in the lock's own format;
``consensus.threshold.trusted_dealer_split_for_tests`` gives no commitments. Every output
(the console, ``state.json``, the summary) says TRUSTED DEALER.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from consensus.bls import PublicKey
from consensus.dkg.config import DkgResult
from consensus.dkg.simulation import dkg_participants, run_ceremony
from consensus.lock import ClusterLock, LockMember
from consensus.threshold import KeyShare, PublicKeyShare
from testnet.harness.errors import HarnessError

TRUSTED_DEALER_NOTE = ("TRUSTED DEALER (--keys dealer): the harness created every member's key "
                       "share itself (consensus.dkg run for all members in one process); the "
                       "DKG among the nodes did not run. Testnet only.")


@dataclass(frozen=True)
class DealtSigners:
    """A t-of-n signer set whose every share the harness knows."""

    threshold: int
    group_key: PublicKey
    shares: tuple[KeyShare, ...]
    public_shares: tuple[PublicKeyShare, ...]
    encryption_keys: tuple[bytes, ...]
    result: DkgResult

    def lock(self, peer_ids: list[str], *, name: str, epoch: int = 1) -> ClusterLock:
        """The cluster lock naming member ``i`` by ``peer_ids[i - 1]``."""
        if len(peer_ids) != len(self.shares):
            raise HarnessError(f"{len(peer_ids)} peer ids for {len(self.shares)} members")
        members = [LockMember(i, peer, self.encryption_keys[i - 1])
                   for i, peer in enumerate(peer_ids, start=1)]
        return ClusterLock.from_dkg(self.result, name=name, epoch=epoch, members=members)


def deal(threshold: int, n: int, *, seed: bytes | None = None) -> DealtSigners:
    """Create a t-of-n signer set in this process (TRUSTED DEALER)."""
    participants = run_ceremony(dkg_participants(n, threshold,
                                                 seed=seed or secrets.token_bytes(32)))
    results = [p.result for p in participants]
    if any(r is None or r.share is None for r in results):
        failures = [p.failure for p in participants]
        raise HarnessError(f"dealing the signer set failed: {failures}")
    first = results[0]
    assert first is not None
    shares = tuple(r.share for r in results if r is not None and r.share is not None)
    keys = tuple(m.encryption_key for m in participants[0].config.recipients)
    return DealtSigners(threshold, first.group_public_key, shares, first.public_shares, keys,
                        first)
