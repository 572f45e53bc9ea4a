"""Joint-Feldman DKG: honest runs, offline members, byzantine dealers, restarts."""

from __future__ import annotations

from dataclasses import replace

import pytest

from consensus import bls
from consensus.dkg import (
    Deal,
    Justification,
    Participant,
    Phase,
    decode_message,
    dkg_participants,
    ecies,
    encode_message,
    run_ceremony,
)
from consensus.dkg.simulation import Hook
from consensus.threshold import combine, partial_sign, verify_partial

SEED = b"\x07" * 32


def _check_results(participants: list[Participant], threshold: int,
                   expected_qualified: tuple[int, ...]) -> None:
    results = [p.result for p in participants if p.result is not None]
    assert results
    first = results[0]
    for result in results:
        assert result.group_public_key == first.group_public_key
        assert result.public_shares == first.public_shares
        assert result.qualified == expected_qualified
    msg = b"dkg signs"
    partials = [partial_sign(r.share, msg) for r in results if r.share is not None]
    for partial in partials:
        assert verify_partial(first.public_shares[partial.index - 1], msg, partial)
    signature = combine(partials[-threshold:], threshold)
    assert bls.verify(first.group_public_key, msg, signature)


def test_honest_dkg_small() -> None:
    participants = run_ceremony(dkg_participants(4, 3, seed=SEED))
    assert all(p.phase is Phase.FINISHED for p in participants)
    _check_results(participants, 3, (1, 2, 3, 4))
    assert participants[0].result is not None
    assert participants[0].result.disqualified == ()


def test_dkg_16_with_five_offline_and_a_restart() -> None:
    offline = frozenset({1, 5, 8, 12, 15})  # positions: members 2, 6, 9, 13, 16

    def restart(phase: Phase, participants: list[Participant]) -> list[bytes]:
        if phase is Phase.RESPONSE:
            participants[3] = Participant.from_bytes(participants[3].to_bytes())
        return []

    participants = run_ceremony(dkg_participants(16, 11, seed=SEED), offline=offline,
                                hook=restart)
    online = [p for i, p in enumerate(participants) if i not in offline]
    expected = tuple(i + 1 for i in range(16) if i not in offline)
    _check_results(online, 11, expected)
    assert online[0].result is not None
    assert {e.dealer for e in online[0].result.disqualified} == {i + 1 for i in offline}
    assert {e.reason for e in online[0].result.disqualified} == {"missing_deal"}


def test_too_many_offline_fails_cleanly() -> None:
    participants = run_ceremony(dkg_participants(4, 3, seed=SEED), offline=frozenset({0, 1}))
    assert participants[2].phase is Phase.FAILED
    assert participants[2].result is None
    assert participants[2].failure is not None


def _bad_share_deal(participant: Participant, victim: int) -> bytes:
    """The participant's honest deal with the share for ``victim`` replaced by garbage."""
    deal = participant.resend()[0].data
    msg = decode_message(deal)
    assert isinstance(msg, Deal)
    member = participant.config.recipient(victim)
    assert member is not None
    assert msg.dealer is not None
    forged = ecies.encrypt(member.encryption_key, (12345).to_bytes(32, "big"),
                           msg.ceremony_id + msg.dealer.to_bytes(2, "big")
                           + victim.to_bytes(2, "big"), 99)
    shares = tuple((j, forged if j == victim else c) for j, c in msg.encrypted_shares)
    return encode_message(replace(msg, encrypted_shares=shares))


def _byzantine_run(mode: str) -> list[Participant]:
    """Member 1 deals a bad share to member 3, then justifies per ``mode``."""
    participants = dkg_participants(5, 3, seed=SEED)
    byzantine = participants[0]
    byzantine.start()
    forged = _bad_share_deal(byzantine, 3)
    coefficients = byzantine._polynomial()  # the test plays the byzantine dealer

    def hook(phase: Phase, ps: list[Participant]) -> list[bytes]:
        if phase is Phase.DEAL:
            return [forged]
        if phase is Phase.RESPONSE and mode != "silent":
            value = sum(c * 3**k for k, c in enumerate(coefficients)) % bls.CURVE_ORDER
            if mode == "wrong":
                value += 1
            revealed = [(3, value.to_bytes(32, "big"))]
            if mode == "good+bogus":  # a bogus "share" for member 4, who did not complain
                revealed.append((4, (777).to_bytes(32, "big")))
            return [encode_message(Justification(byzantine.config.ceremony_id, 1,
                                                 tuple(revealed)))]
        return []

    honest = run_ceremony([dkg_participants(5, 3, seed=SEED)[0], *participants[1:]],
                          offline=frozenset({0}), hook=hook)
    return honest[1:]


@pytest.mark.parametrize(("mode", "reason"), [("silent", "unjustified_complaint"),
                                              ("wrong", "bad_justification")])
def test_byzantine_dealer_disqualified(mode: str, reason: str) -> None:
    honest = _byzantine_run(mode)
    _check_results(honest, 3, (2, 3, 4, 5))
    result = honest[0].result
    assert result is not None
    assert [(e.dealer, e.reason) for e in result.disqualified] == [(1, reason)]


@pytest.mark.parametrize("mode", ["good", "good+bogus"])
def test_dealer_that_justifies_stays_qualified(mode: str) -> None:
    honest = _byzantine_run(mode)
    _check_results(honest, 3, (1, 2, 3, 4, 5))


def test_inconsistent_commitments_and_equivocation() -> None:
    participants = dkg_participants(5, 3, seed=SEED)
    liar, equivocator = participants[0], participants[1]
    liar.start()
    equivocator.start()
    deal = decode_message(liar.resend()[0].data)
    assert isinstance(deal, Deal)
    short = encode_message(replace(deal, commitments=deal.commitments[:2]))
    honest_2 = equivocator.resend()[0].data
    other_2 = _bad_share_deal(equivocator, 4)

    def hook(phase: Phase, ps: list[Participant]) -> list[bytes]:
        return [short, honest_2, other_2] if phase is Phase.DEAL else []

    fresh = dkg_participants(5, 3, seed=SEED)
    honest = run_ceremony(fresh, offline=frozenset({0, 1}), hook=hook)[2:]
    _check_results(honest, 3, (3, 4, 5))
    result = honest[0].result
    assert result is not None
    assert [(e.dealer, e.reason) for e in result.disqualified] == [
        (1, "invalid_deal"), (2, "equivocation")]


def test_serialisation_round_trip_every_phase() -> None:
    participants = dkg_participants(4, 2, seed=SEED)
    snapshots: list[bytes] = []

    def hook(phase: Phase, ps: list[Participant]) -> list[bytes]:
        snapshots.append(ps[2].to_bytes())
        ps[2] = Participant.from_bytes(ps[2].to_bytes())
        return []

    hook_typed: Hook = hook
    finished = run_ceremony(participants, hook=hook_typed)
    _check_results(finished, 2, (1, 2, 3, 4))
    restored = Participant.from_bytes(snapshots[0])
    assert restored.phase is Phase.DEAL
    assert restored.resend() == finished[2].resend()[:1]
