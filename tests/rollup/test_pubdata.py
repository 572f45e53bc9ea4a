"""Pubdata encoding: round trips and strict rejection of malformed bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracle_node.rollup import hashes
from oracle_node.rollup.pubdata import (
    OP_BYTES,
    Deposit,
    Noop,
    Op,
    PubdataError,
    Transfer,
    Withdraw,
    decode_block_pubdata,
    decode_op,
    encode_block_pubdata,
    encode_op,
    onchain_ops_of_chain,
)

from .strategies import ops

USED = {0: 0, 1: 52, 2: 32, 3: 48, 4: 52}


@given(ops)
def test_op_round_trip(op: Op) -> None:
    raw = encode_op(op)
    assert len(raw) == OP_BYTES
    assert decode_op(raw) == op


@given(st.lists(ops, max_size=8), st.integers(0, 4))
def test_block_round_trip(block: list[Op], extra: int) -> None:
    capacity = max(1, len(block) + extra)
    pubdata = encode_block_pubdata(block, capacity)
    assert len(pubdata) == capacity * OP_BYTES
    assert decode_block_pubdata(pubdata) == block + [Noop()] * (capacity - len(block))
    inputs = hashes.public_inputs(0, 0, 1, pubdata)
    assert len(inputs) == 3 + 2 * capacity
    assert b"".join(x.to_bytes(31, "big") for x in inputs[3:]) == pubdata


@given(ops, st.integers(0, OP_BYTES - 1), st.integers(1, 255))
def test_nonzero_padding_rejected(op: Op, position: int, value: int) -> None:
    raw = bytearray(encode_op(op))
    if position < max(1, USED[raw[0]]):  # byte 0 is the type itself
        return
    raw[position] = value
    with pytest.raises(PubdataError):
        decode_op(bytes(raw))


@given(st.integers(5, 255), st.binary(min_size=61, max_size=61))
def test_unknown_type_rejected(code: int, rest: bytes) -> None:
    with pytest.raises(PubdataError, match="unknown op type"):
        decode_op(bytes([code]) + rest)


@given(st.binary(max_size=200).filter(lambda b: len(b) != OP_BYTES))
def test_bad_length_rejected(raw: bytes) -> None:
    with pytest.raises(PubdataError):
        decode_op(raw)


def test_transfer_chain_byte_must_be_zero() -> None:
    raw = bytearray(encode_op(Transfer(1, 1, 5, 2, 0)))
    raw[1] = 3
    with pytest.raises(PubdataError, match="chain byte"):
        decode_op(bytes(raw))


def test_block_pubdata_errors() -> None:
    with pytest.raises(PubdataError):
        decode_block_pubdata(b"")
    with pytest.raises(PubdataError):
        decode_block_pubdata(bytes(OP_BYTES + 1))
    with pytest.raises(PubdataError, match="exceed"):
        encode_block_pubdata([Noop(), Noop()], 1)
    with pytest.raises(PubdataError):
        encode_block_pubdata([], 0)


@pytest.mark.parametrize("op", [
    Deposit(chain_id=256, account_id=1, token=1, amount=1, owner=bytes(20), serial_id=0),
    Deposit(chain_id=1, account_id=1, token=1, amount=2**128, owner=bytes(20), serial_id=0),
    Deposit(chain_id=1, account_id=1, token=1, amount=1, owner=bytes(19), serial_id=0),
    Transfer(from_account=2**32, token=1, amount=1, to_account=1, from_nonce=0),
    Withdraw(chain_id=1, account_id=1, token=-1, amount=1, to_address=bytes(20), nonce=0),
])
def test_out_of_range_fields_rejected(op: Op) -> None:
    with pytest.raises(PubdataError):
        encode_op(op)


def test_onchain_ops_of_chain() -> None:
    owner = bytes(range(20))
    block: list[Op] = [
        Deposit(1, 1, 1, 5, owner, 0), Transfer(1, 1, 1, 2, 0), Withdraw(2, 1, 1, 1, owner, 1),
        Withdraw(1, 1, 1, 1, owner, 2), Noop(),
    ]
    assert onchain_ops_of_chain(block, 1) == [block[0], block[3]]
    assert onchain_ops_of_chain(block, 2) == [block[2]]
    assert onchain_ops_of_chain(block, 3) == []
