"""Hypothesis strategies for rollup operations."""

from __future__ import annotations

from hypothesis import strategies as st

from oracle_node.rollup.pubdata import Deposit, FullExit, Noop, Op, Transfer, Withdraw

u8 = st.integers(0, 255)
u16 = st.integers(0, 2**16 - 1)
u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
u128 = st.integers(0, 2**128 - 1)
address = st.binary(min_size=20, max_size=20)

ops: st.SearchStrategy[Op] = st.one_of(
    st.just(Noop()),
    st.builds(Deposit, chain_id=u8, account_id=u32, token=u16, amount=u128, owner=address,
              serial_id=u64),
    st.builds(Transfer, from_account=u32, token=u16, amount=u128, to_account=u32,
              from_nonce=u32),
    st.builds(Withdraw, chain_id=u8, account_id=u32, token=u16, amount=u128,
              to_address=address, nonce=u32),
    st.builds(FullExit, chain_id=u8, account_id=u32, token=u16, amount=u128, owner=address,
              serial_id=u64),
)
