"""The handover message matches the gate tooling's encoding and rejects bad input."""

from __future__ import annotations

import pytest

from consensus.errors import EncodingError
from consensus.message import HANDOVER_TAG, handover_message, signing_message
from deploy.gate_tools import handover_message as gate_handover_message


def test_handover_message_matches_the_gate_tooling() -> None:
    key = bytes(range(96))
    ours = handover_message(network_id=7, old_epoch=3, new_key=key)
    assert ours == gate_handover_message(network_id=7, old_epoch=3, new_key=key)
    assert len(ours) == 32


def test_handover_message_is_domain_separated_from_confirmations() -> None:
    key = bytes(96)
    assert bytes(32) != HANDOVER_TAG
    assert handover_message(network_id=1, old_epoch=1, new_key=key) != signing_message(
        network_id=1, epoch=1, block_number=0, final_root=bytes(32))


@pytest.mark.parametrize("key", [b"", bytes(95), bytes(97)])
def test_handover_message_rejects_wrong_key_length(key: bytes) -> None:
    with pytest.raises(EncodingError):
        handover_message(network_id=1, old_epoch=1, new_key=key)
