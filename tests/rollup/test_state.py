"""Property tests of the rollup core: conservation, nonces, atomic rejection."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle_node.rollup import (
    Deposit,
    FullExit,
    InvalidOperation,
    Op,
    RollupParams,
    State,
    Transfer,
    Withdraw,
    build_block,
)
from oracle_node.rollup.pubdata import PubdataError
from oracle_node.rollup.tree import SparseMerkleTree, TreeError

PARAMS = RollupParams(depth=6, token_slots=2, capacity=4)
CHAINS = (1, 2)
OWNERS = [bytes([i]) * 20 for i in range(1, 6)]


def funded_state() -> State:
    """Five accounts (ids 1..5) each holding 1000 of both tokens."""
    state = State(PARAMS)
    deposits: list[Op] = []
    for i, owner in enumerate(OWNERS, start=1):
        deposits += [Deposit(1, i, 1, 1000, owner, 2 * i), Deposit(2, i, 2, 1000, owner, 2 * i)]
    for n, start in enumerate(range(0, len(deposits), 4), start=1):
        build_block(state, deposits[start:start + 4], n, bytes(32), CHAINS)
    return state


def snapshot(state: State) -> tuple[int, dict[int, object]]:
    """What must not change when a block is rejected."""
    return state.root, dict(state.accounts)


transfer_args = st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 2),
                          st.integers(0, 1500))


@settings(max_examples=30, deadline=None)
@given(st.lists(transfer_args, min_size=1, max_size=12))
def test_transfers_conserve_balances_and_nonces_grow(
        moves: list[tuple[int, int, int, int]]) -> None:
    state = funded_state()
    totals = [sum(a.balances[t] for a in state.accounts.values()) for t in range(2)]
    block_number = 100
    for sender, receiver, token, amount in moves:
        before = state.account(sender)
        op = Transfer(sender, token, amount, receiver, before.nonce)
        snap = snapshot(state)
        if amount > before.balances[token - 1]:
            with pytest.raises(InvalidOperation, match="insufficient_balance"):
                build_block(state, [op], block_number, bytes(32), CHAINS)
            assert snapshot(state) == snap
            continue
        build_block(state, [op], block_number, bytes(32), CHAINS)
        block_number += 1
        assert state.account(sender).nonce == before.nonce + 1
        assert [sum(a.balances[t] for a in state.accounts.values()) for t in range(2)] == totals
    fresh = State(PARAMS, dict(state.accounts))
    assert fresh.root == state.root


BAD_OPS: list[tuple[Op, str]] = [
    (Transfer(1, 1, 10, 2, 5), "bad_nonce"),
    (Transfer(1, 1, 10, 9, 0), "unknown_account"),
    (Transfer(9, 1, 10, 1, 0), "unknown_account"),
    (Transfer(1, 3, 10, 2, 0), "unsupported_token"),
    (Transfer(1, 1, 1001, 2, 0), "insufficient_balance"),
    (Transfer(1, 1, 1, 64, 0), "account_out_of_range"),
    (Withdraw(1, 1, 1, 1001, OWNERS[0], 0), "insufficient_balance"),
    (Withdraw(3, 1, 1, 1, OWNERS[0], 0), "unknown_chain"),
    (Withdraw(1, 1, 1, 1, OWNERS[0], 1), "bad_nonce"),
    (Deposit(1, 1, 1, 5, OWNERS[1], 0), "owner_mismatch"),
    (Deposit(1, 0, 1, 5, OWNERS[1], 0), "account_out_of_range"),
    (Deposit(1, 9, 1, 5, bytes(20), 0), "zero_owner"),
    (Deposit(1, 1, 1, 2**128 - 1, OWNERS[0], 0), "balance_overflow"),
    (FullExit(1, 1, 1, 999, OWNERS[0], 0), "bad_exit_amount"),
    (FullExit(1, 1, 1, 1000, OWNERS[1], 0), "bad_exit_amount"),
]


@pytest.mark.parametrize(("bad", "reason"), BAD_OPS)
def test_bad_op_rejects_whole_block_and_leaves_state(bad: Op, reason: str) -> None:
    state = funded_state()
    snap = snapshot(state)
    good = Transfer(2, 1, 10, 3, 0)
    with pytest.raises(InvalidOperation) as info:
        build_block(state, [good, bad], 50, bytes(32), CHAINS)
    assert info.value.reason == reason
    assert snapshot(state) == snap


def test_too_many_ops_rejected() -> None:
    state = funded_state()
    snap = snapshot(state)
    with pytest.raises(PubdataError):
        build_block(state, [Transfer(1, 1, 1, 2, n) for n in range(5)], 9, bytes(32), CHAINS)
    assert snapshot(state) == snap


def test_full_exit_semantics() -> None:
    state = funded_state()
    build_block(state, [FullExit(1, 1, 1, 1000, OWNERS[0], 7),
                        FullExit(1, 2, 1, 0, OWNERS[0], 8),
                        FullExit(1, 9, 2, 0, OWNERS[0], 9)], 9, bytes(32), CHAINS)
    assert state.account(1).balances == (0, 1000)
    assert state.account(2).balances == (1000, 1000)
    assert not state.account(9).exists


def test_transfer_to_self_and_withdraw() -> None:
    state = funded_state()
    build_block(state, [Transfer(1, 1, 400, 1, 0), Withdraw(2, 1, 1, 300, OWNERS[3], 1)], 9,
                bytes(32), CHAINS)
    account = state.account(1)
    assert account.nonce == 2
    assert account.balances == (700, 1000)


def test_tree_root_independent_of_insertion_order() -> None:
    a, b = SparseMerkleTree(6), SparseMerkleTree(6)
    for index, value in [(3, 11), (17, 5), (31, 9)]:
        a.set_leaf(index, value)
    b.commit(b.stage({31: 9, 3: 11, 17: 5}))
    assert a.root == b.root
    assert a.siblings(3) == b.siblings(3)
    from oracle_node.rollup.poseidon import poseidon_reference
    node, index = a.leaf(17), 17
    for siblings in a.siblings(17):
        children = list(siblings)
        children.insert(index & 3, node)
        node = poseidon_reference(children)
        index >>= 2
    assert node == a.root
    with pytest.raises(TreeError):
        a.set_leaf(64, 1)
    with pytest.raises(TreeError):
        SparseMerkleTree(7)
