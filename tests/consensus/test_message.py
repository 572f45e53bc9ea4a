"""The canonical signing message against golden vectors and an independent re-derivation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak

from consensus.errors import EncodingError
from consensus.message import DOMAIN_TAG, signing_message


def load_golden(name: str) -> Any:
    """Load one JSON golden file of the consensus area."""
    return json.loads((Path(__file__).resolve().parents[1] / "golden" / "consensus" / name)
                      .read_text())


def test_domain_tag_is_keccak_of_the_label() -> None:
    assert keccak(b"zkLink-oracle/confirmFinalRoot/v1") == DOMAIN_TAG
    assert DOMAIN_TAG.hex() == load_golden("signing_message.json")["domain_tag"][2:]


def test_golden_vectors() -> None:
    for case in load_golden("signing_message.json")["cases"]:
        got = signing_message(network_id=case["network_id"], epoch=case["epoch"],
                              block_number=case["block_number"],
                              final_root=bytes.fromhex(case["final_root"][2:]))
        assert got.hex() == case["message"][2:]


def test_matches_hand_rolled_abi_encoding() -> None:
    root = bytes(range(32))
    words = DOMAIN_TAG + (5).to_bytes(32, "big") + (2).to_bytes(32, "big") \
        + (99).to_bytes(32, "big") + root
    assert signing_message(network_id=5, epoch=2, block_number=99, final_root=root) == keccak(words)


@pytest.mark.parametrize(("field", "value"), [
    ("network_id", -1), ("epoch", 1 << 256), ("block_number", True), ("final_root", b"\x00" * 31),
    ("final_root", "00" * 32),
])
def test_rejects_out_of_range_fields(field: str, value: object) -> None:
    kwargs: dict[str, object] = {"network_id": 1, "epoch": 1, "block_number": 1,
                                 "final_root": bytes(32)}
    kwargs[field] = value
    with pytest.raises(EncodingError):
        signing_message(**kwargs)  # type: ignore[arg-type]
