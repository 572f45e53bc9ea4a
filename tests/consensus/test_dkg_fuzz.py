"""Adversarial DKG inputs: every peer message is hostile; never an exception, never a silent
state change on rejection."""

from __future__ import annotations

from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consensus.dkg import Participant, Phase, dkg_participants, run_ceremony
from consensus.dkg.messages import decode_message
from consensus.errors import DkgMessageError, DkgStateError

SEED = b"\x09" * 32


@cache
def _transcript() -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Deals and responses of one ceremony, and deals of another ceremony."""
    deals, responses = [], []
    participants = dkg_participants(4, 3, seed=SEED)
    for p in participants:
        deals += [o.data for o in p.start().outgoing]
    for p in participants:
        for d in deals:
            p.on_message(d)
    for p in participants:
        responses += [o.data for o in p.on_deadline(Phase.DEAL).outgoing]
    other = dkg_participants(4, 3, seed=b"\x0a" * 32)
    foreign = [o.data for p in other for o in p.start().outgoing]
    return deals, responses, foreign


def _fresh(phase: Phase) -> Participant:
    """Member 2 after receiving deal 1 (DEAL phase) or after the deal deadline (RESPONSE)."""
    deals, _, _ = _transcript()
    p = dkg_participants(4, 3, seed=SEED)[1]
    p.start()
    p.on_message(deals[0])
    if phase is Phase.RESPONSE:
        for d in deals[2:]:
            p.on_message(d)
        p.on_deadline(Phase.DEAL)
    return p


def _snapshot(p: Participant) -> str:
    return repr(sorted((k, v) for k, v in vars(p).items() if k != "_impl"))


@st.composite
def hostile(draw: st.DrawFn) -> bytes:
    deals, responses, foreign = _transcript()
    valid = deals + responses + foreign
    base = draw(st.sampled_from(valid))
    kind = draw(st.sampled_from(["random", "truncate", "flip", "replay", "splice"]))
    if kind == "random":
        return draw(st.binary(max_size=300))
    if kind == "truncate":
        return base[: draw(st.integers(0, len(base) - 1))]
    if kind == "flip":
        pos = draw(st.integers(0, len(base) - 1))
        return base[:pos] + bytes([base[pos] ^ draw(st.integers(1, 255))]) + base[pos + 1:]
    if kind == "splice":
        other = draw(st.sampled_from(valid))
        return base[: len(base) // 2] + other[len(other) // 2:]
    return base


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([Phase.DEAL, Phase.RESPONSE]), st.lists(hostile(), min_size=1, max_size=4))
def test_hostile_messages_are_rejected_or_evidence(phase: Phase, inputs: list[bytes]) -> None:
    p = _fresh(phase)
    for data in inputs:
        before = _snapshot(p)
        step = p.on_message(data)
        if step.rejected is not None:
            assert _snapshot(p) == before
            assert not step.outgoing
    # whatever happened, the machine still runs to an end state without raising
    for current in (Phase.DEAL, Phase.RESPONSE, Phase.JUSTIFICATION):
        if p.phase is current:
            p.on_deadline(current)
    assert p.phase in (Phase.FINISHED, Phase.FAILED)
    restored = Participant.from_bytes(p.to_bytes())
    assert restored.phase is p.phase


def test_replays_and_foreign_messages_are_rejected() -> None:
    deals, responses, foreign = _transcript()
    p = _fresh(Phase.RESPONSE)
    assert p.on_message(deals[0]).rejected == "deal after the deal phase"
    assert p.on_message(foreign[0]).rejected == "message of another ceremony"
    assert p.on_message(responses[0]).rejected is None
    assert p.on_message(responses[1]).rejected == \
        "a peer's message claims to come from this participant"
    assert p.on_message(responses[0]).rejected == "duplicate response"
    assert p.on_deadline(Phase.DEAL).rejected is not None


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_decoder_raises_only_typed_errors(data: bytes) -> None:
    try:
        decode_message(data)
    except DkgMessageError:
        pass


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=200))
def test_corrupt_state_raises_typed_error(data: bytes) -> None:
    try:
        Participant.from_bytes(data)
    except DkgStateError:
        pass


def test_state_file_restores_to_identical_result() -> None:
    participants = dkg_participants(3, 2, seed=SEED)
    finished = run_ceremony(participants)
    restored = Participant.from_bytes(finished[1].to_bytes())
    assert restored.result == finished[1].result
