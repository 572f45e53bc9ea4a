"""Replay re-derives every block from pubdata alone and rejects what the chain misstates."""

from __future__ import annotations

import random

import pytest

from oracle_node.rollup import (
    BlockResult,
    Deposit,
    Expected,
    InvalidOperation,
    Op,
    PubdataError,
    Replayer,
    ReplayMismatch,
    RollupParams,
    State,
    Transfer,
    Withdraw,
    build_block,
    hashes,
    replay,
)
from oracle_node.rollup.pubdata import encode_block_pubdata

PARAMS = RollupParams(depth=8, token_slots=2, capacity=4)
CHAINS = (1, 2, 3)


def random_chain(seed: int, blocks: int) -> list[BlockResult]:
    """A valid chain of blocks built by the core from a random mix of ops."""
    rng = random.Random(seed)
    state = State(PARAMS)
    results: list[BlockResult] = []
    prev = hashes.ZERO_HASH
    owners = [bytes([i]) * 20 for i in range(1, 9)]
    for number in range(1, blocks + 1):
        ops: list[Op] = []
        touched: set[int] = set()
        while len(ops) < rng.randint(1, PARAMS.capacity):
            account_id = rng.randint(1, 8)
            account = state.account(account_id)
            token = rng.randint(1, 2)
            if account_id in touched:
                break
            touched.add(account_id)
            balance = account.balances[token - 1]
            if not account.exists or balance == 0 or rng.random() < 0.3:
                ops.append(Deposit(rng.choice(CHAINS), account_id, token, rng.randint(1, 10**6),
                                   owners[account_id - 1], number))
                continue
            target = rng.randint(1, 8)
            if rng.random() < 0.7 and state.account(target).exists and target not in touched:
                touched.add(target)
                ops.append(Transfer(account_id, token, rng.randint(0, balance), target,
                                    account.nonce))
            else:
                ops.append(Withdraw(rng.choice(CHAINS), account_id, token,
                                    rng.randint(0, balance), owners[0], account.nonce))
        result = build_block(state, ops, number, prev, CHAINS)
        prev = result.sync_hash
        results.append(result)
    return results


def expected_of(result: BlockResult) -> Expected:
    """What an honest chain reports for a block."""
    return Expected(result.new_state_root_bytes, result.commitment, result.sync_hash,
                    result.ops_hashes)


def test_replay_matches_build() -> None:
    built = random_chain(1, 25)
    replayer = Replayer(CHAINS, PARAMS)
    for result in built:
        assert replayer.apply_block(result.block_number, result.pubdata,
                                    expected_of(result)) == result
    assert replay(((r.block_number, r.pubdata) for r in built), CHAINS, PARAMS) == built
    assert built[-1].final_root == built[-1].sync_hash
    assert built[0].ops_hash_of(2) == hashes.ops_hash(built[0].ops, 2)


@pytest.mark.parametrize("field", ["new_state_root", "commitment", "sync_hash", "ops_hashes"])
def test_misstated_block_rejected_and_state_kept(field: str) -> None:
    built = random_chain(2, 3)
    replayer = Replayer(CHAINS, PARAMS)
    replayer.apply_block(1, built[0].pubdata, expected_of(built[0]))
    root, sync = replayer.state.root, replayer.sync_hash
    honest = expected_of(built[1])
    lies = {
        "new_state_root": Expected(new_state_root=b"\x07" * 32),
        "commitment": Expected(commitment=b"\x07" * 32),
        "sync_hash": Expected(sync_hash=b"\x07" * 32),
        "ops_hashes": Expected(ops_hashes=[b"\x01" * 32, *built[1].ops_hashes[1:]]),
    }
    lie = lies[field]
    with pytest.raises(ReplayMismatch):
        replayer.apply_block(2, built[1].pubdata, lie)
    assert (replayer.state.root, replayer.sync_hash, replayer.block_number) == (root, sync, 1)
    assert replayer.apply_block(2, built[1].pubdata, honest) == built[1]


def test_out_of_order_and_bad_pubdata_rejected() -> None:
    built = random_chain(3, 2)
    replayer = Replayer(CHAINS, PARAMS)
    with pytest.raises(ReplayMismatch):
        replayer.apply_block(2, built[1].pubdata)
    with pytest.raises(ReplayMismatch):
        replayer.apply_block(1, built[0].pubdata[:-62])
    corrupt = bytearray(built[0].pubdata)
    corrupt[61] = 1
    with pytest.raises(PubdataError):
        replayer.apply_block(1, bytes(corrupt))
    overdraw = encode_block_pubdata([Transfer(1, 1, 1, 2, 0)], PARAMS.capacity)
    with pytest.raises(InvalidOperation):
        replayer.apply_block(1, overdraw)
    assert replayer.block_number == 0
    assert replayer.state.root == State(PARAMS).root
    replayer.apply_block(1, built[0].pubdata)


def test_chain_that_was_told_other_ops_gets_other_final_root() -> None:
    built = random_chain(4, 1)[0]
    ops_hashes = list(built.ops_hashes)
    ops_hashes[0] = hashes.ops_hash([Deposit(1, 1, 1, 1, b"\x09" * 20, 0)], 1)
    other = hashes.final_root(built.prev_sync_hash, built.commitment, ops_hashes)
    assert other != built.final_root
