"""Handover partials: signed from fields (never a raw message), checked, combined."""

from __future__ import annotations

import json

import pytest

from consensus import bls
from consensus.handover import HandoverError, HandoverPartial, combine_handover, sign_handover
from consensus.lock import ClusterLock
from consensus.message import handover_message
from consensus.threshold import KeyShare
from tests.consensus.locks import dkg_lock

NEW_KEY = bls.public_key(bls.keygen(b"\x11" * 32)).to_bytes()


def lock_and_shares(seed: bytes = b"\x09" * 32) -> tuple[ClusterLock, list[KeyShare]]:
    """A 3-of-4 lock from a real in-process DKG and the members' shares."""
    return dkg_lock(seed, name="old")


def test_t_partials_combine_to_the_signature_the_gate_checks() -> None:
    lock, shares = lock_and_shares()
    partials = [sign_handover(lock=lock, share=s, network_id=7, old_epoch=1, new_key=NEW_KEY)
                for s in shares[1:]]
    again = [HandoverPartial.from_json(p.to_json()) for p in partials]
    assert again == partials
    signature = combine_handover(lock, again)
    message = handover_message(network_id=7, old_epoch=1, new_key=NEW_KEY)
    assert bls.verify(lock.group_public_key, message, bls.Signature.from_bytes(signature))
    assert combine_handover(lock, partials[:3]) == signature  # any t give the same signature


def test_bad_partials_are_named_not_skipped() -> None:
    lock, shares = lock_and_shares()
    good = [sign_handover(lock=lock, share=s, network_id=7, old_epoch=1, new_key=NEW_KEY)
            for s in shares]
    with pytest.raises(HandoverError, match="lock needs 3"):
        combine_handover(lock, good[:2])
    other = sign_handover(lock=lock, share=shares[3], network_id=7, old_epoch=2,
                          new_key=NEW_KEY)
    with pytest.raises(HandoverError, match="another handover"):
        combine_handover(lock, [*good[:2], other])
    forged = HandoverPartial(2, 7, 1, NEW_KEY, good[0].partial)  # member 1's bytes as 2's
    with pytest.raises(HandoverError, match="member 2's partial does not verify"):
        combine_handover(lock, [good[0], forged, good[2]])
    with pytest.raises(HandoverError, match="current group key"):
        sign_handover(lock=lock, share=shares[0], network_id=7, old_epoch=1,
                      new_key=lock.group_public_key.to_bytes())
    with pytest.raises(HandoverError, match="not a valid G2 point"):
        sign_handover(lock=lock, share=shares[0], network_id=7, old_epoch=1,
                      new_key=b"\x01" * 96)
    stranger = lock_and_shares(b"\x0a" * 32)[1][0]
    with pytest.raises(HandoverError):
        sign_handover(lock=lock, share=KeyShare(9, stranger.secret), network_id=7,
                      old_epoch=1, new_key=NEW_KEY)


def test_the_stated_message_must_be_the_fields_message() -> None:
    lock, shares = lock_and_shares()
    doc = json.loads(sign_handover(lock=lock, share=shares[0], network_id=7, old_epoch=1,
                                   new_key=NEW_KEY).to_json())
    doc["message"] = "0x" + "00" * 32  # e.g. a confirmation's signing message
    with pytest.raises(HandoverError, match="not the handover message"):
        HandoverPartial.from_json(json.dumps(doc))
    for broken in ("[]", "{}", '{"member": -1}', "not json"):
        with pytest.raises(HandoverError):
            HandoverPartial.from_json(broken)


def test_out_of_range_fields_are_a_handover_error() -> None:
    lock, shares = lock_and_shares()
    good = json.loads(sign_handover(lock=lock, share=shares[0], network_id=7, old_epoch=1,
                                    new_key=NEW_KEY).to_json())
    for field, value in (("old_epoch", 2**256), ("network_id", 2**300),
                         ("new_key", "0x" + "ab" * 95)):
        with pytest.raises(HandoverError, match="not a handover partial"):
            HandoverPartial.from_json(json.dumps({**good, field: value}))
