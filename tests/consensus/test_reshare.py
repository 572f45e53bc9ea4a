"""Resharing: the group key survives committee changes, with old members offline."""

from __future__ import annotations

from functools import cache

import pytest

from consensus import bls
from consensus.dkg import (
    DkgResult,
    Participant,
    Phase,
    dkg_participants,
    reshare_participants,
    run_ceremony,
)
from consensus.threshold import (
    KeyShare,
    combine,
    partial_sign,
    public_share_from_commitments,
    verify_partial,
)

MSG = b"reshared key signs"


@cache
def _original(n: int, t: int) -> tuple[DkgResult, tuple[KeyShare, ...]]:
    finished = run_ceremony(dkg_participants(n, t, seed=b"\x01" * 32))
    results = [p.result for p in finished]
    assert all(r is not None for r in results)
    shares = tuple(r.share for r in results if r is not None and r.share is not None)
    first = results[0]
    assert first is not None
    return first, shares


def _reshare(n_old: int, t_old: int, n_new: int, t_new: int, stays: dict[int, int],
             offline_old: set[int]) -> list[Participant]:
    original, shares = _original(n_old, t_old)
    participants = reshare_participants(
        list(shares), list(original.public_shares), t_old, original.group_public_key,
        new_n=n_new, new_threshold=t_new, stays=stays, seed=b"\x02" * 32)
    return run_ceremony(participants, offline=frozenset(i - 1 for i in offline_old))


def _check(participants: list[Participant], n_old: int, t_old: int, t_new: int) -> DkgResult:
    original, _ = _original(n_old, t_old)
    new = [p.result for p in participants if p.result is not None and p.result.share is not None]
    first = new[0]
    for result in new:
        assert result.group_public_key == original.group_public_key
        assert result.public_shares == first.public_shares
        assert result.threshold == t_new
    partials = [partial_sign(r.share, MSG) for r in new if r.share is not None]
    for partial in partials:
        assert verify_partial(first.public_shares[partial.index - 1], MSG, partial)
    assert bls.verify(original.group_public_key, MSG, combine(partials[:t_new], t_new))
    if t_new > 1:
        assert not bls.verify(original.group_public_key, MSG,
                              combine(partials[: t_new - 1], t_new - 1))
    return first


@pytest.mark.parametrize(("n_old", "t_old", "n_new", "t_new", "stays", "offline"), [
    (4, 3, 4, 3, {1: 1, 2: 2, 3: 3, 4: 4}, {2}),            # same committee, one offline
    (5, 3, 7, 5, {1: 6, 2: 7}, {4, 5}),                      # grow, overlapping, 2 offline
    (4, 2, 3, 2, {}, {1, 3}),                                # disjoint, shrink, 2 offline
])
def test_reshare_keeps_group_key(n_old: int, t_old: int, n_new: int, t_new: int,
                                 stays: dict[int, int], offline: set[int]) -> None:
    finished = _reshare(n_old, t_old, n_new, t_new, stays, offline)
    result = _check(finished, n_old, t_old, t_new)
    assert {e.dealer for e in result.disqualified} == offline
    assert len(result.qualified) == n_old - len(offline)


def test_reshare_16_to_16_with_restart() -> None:
    def restart(phase: Phase, ps: list[Participant]) -> list[bytes]:
        if phase is Phase.DEAL:
            ps[0] = Participant.from_bytes(ps[0].to_bytes())
        return []

    original, shares = _original(16, 11)
    participants = reshare_participants(
        list(shares), list(original.public_shares), 11, original.group_public_key,
        new_n=16, new_threshold=11, stays={i: 17 - i for i in range(1, 17)}, seed=b"\x03" * 32)
    finished = run_ceremony(participants, offline=frozenset({3, 7, 9, 12, 14}), hook=restart)
    _check(finished, 16, 11, 11)


def test_new_public_shares_follow_from_old_commitments() -> None:
    finished = _reshare(4, 2, 5, 3, {1: 1}, set())
    result = _check(finished, 4, 2, 3)
    original, _ = _original(4, 2)
    # the reshared constant term equals the old group key, itself the old commitments' C_0
    assert result.commitments[0] == original.commitments[0]
    for share in result.public_shares:
        assert public_share_from_commitments(result.commitments, share.index) == share


def test_reshare_fails_cleanly_with_too_few_old_members() -> None:
    finished = _reshare(4, 3, 4, 3, {}, {1, 2})
    joined = [p for p in finished if p.dealer_index is None]
    assert all(p.phase is Phase.FAILED for p in joined)


def test_reshare_rejects_dealer_with_wrong_constant_term() -> None:
    original, shares = _original(4, 2)
    forged = list(shares)
    forged[0] = KeyShare(1, bls.SecretKey(shares[0].secret.value + 1))
    participants = reshare_participants(
        forged, list(original.public_shares), 2, original.group_public_key,
        new_n=3, new_threshold=2, stays={}, seed=b"\x04" * 32)
    finished = run_ceremony(participants)
    result = _check(finished, 4, 2, 2)
    assert [(e.dealer, e.reason) for e in result.disqualified] == [(1, "invalid_deal")]
