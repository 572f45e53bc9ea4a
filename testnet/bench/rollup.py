"""Rollup core benchmarks (``oracle-testnet bench rollup``).

Replay throughput (ops/s) over a realistic mix (35 % deposits, 45 % transfers, 15 %
withdrawals, 5 % full exits over a few hundred accounts, blocks filled to capacity), the
sequencer's ``build_block`` throughput, the tree update time for one account and for a
whole block (dirty nodes hashed once per block), and the Poseidon backends.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from oracle_node.rollup import (
    BlockResult,
    Deposit,
    Expected,
    FullExit,
    InvalidOperation,
    Op,
    Replayer,
    RollupParams,
    State,
    Transfer,
    Withdraw,
    build_block,
    hashes,
)
from oracle_node.rollup.poseidon import (
    poseidon,
    poseidon_memo_clear,
    poseidon_reference,
    poseidon_unchecked,
)
from oracle_node.rollup.state import Account, op_updates
from testnet.bench.report import BenchReport, median_ms, time_call

CHAINS = (1, 2, 3)
REPLAY_RUNS = 3


def _pick_op(rng: random.Random, get: dict[int, Account], state: State, n_accounts: int,
             serial: int) -> Op:
    account_id = rng.randint(1, n_accounts)
    account = get.get(account_id) or state.account(account_id)
    token = rng.randint(1, state.params.token_slots)
    owner = account_id.to_bytes(20, "big")
    balance = account.balances[token - 1]
    roll = rng.random()
    if not account.exists or balance == 0 or roll < 0.35:
        return Deposit(rng.choice(CHAINS), account_id, token, rng.randint(1, 10**18), owner,
                       serial)
    if roll < 0.80:
        return Transfer(account_id, token, rng.randint(0, balance),
                        rng.randint(1, n_accounts), account.nonce)
    if roll < 0.95:
        return Withdraw(rng.choice(CHAINS), account_id, token, rng.randint(0, balance), owner,
                        account.nonce)
    return FullExit(rng.choice(CHAINS), account_id, token, balance, owner, serial)


def _reader(scratch: dict[int, Account], state: State) -> Callable[[int], Account]:
    def get(account_id: int) -> Account:
        return scratch.get(account_id) or state.account(account_id)
    return get


def realistic_chain(params: RollupParams, blocks: int, n_accounts: int = 300,
                    seed: int = 7) -> tuple[list[BlockResult], float]:
    """Build ``blocks`` full blocks of a realistic mix; return them and the build seconds."""
    rng = random.Random(seed)
    state = State(params)
    prev = hashes.ZERO_HASH
    results: list[BlockResult] = []
    serial = 0
    build_s = 0.0
    for number in range(1, blocks + 1):
        scratch: dict[int, Account] = {}
        ops: list[Op] = []
        while len(ops) < params.capacity:
            serial += 1
            op = _pick_op(rng, scratch, state, n_accounts, serial)
            try:
                updates = op_updates(op, _reader(scratch, state), params, frozenset(CHAINS))
            except InvalidOperation:
                continue
            for update in updates:
                scratch[update.account_id] = update.new
            ops.append(op)
        start = time.perf_counter()
        result = build_block(state, ops, number, prev, CHAINS)
        build_s += time.perf_counter() - start
        prev = result.sync_hash
        results.append(result)
    return results, build_s


def _replay(report: BenchReport, params: RollupParams, blocks: int) -> None:
    poseidon_memo_clear()
    chain, build_s = realistic_chain(params, blocks)
    n_ops = blocks * params.capacity

    def replay_all() -> tuple[float, float]:
        replayer = Replayer(CHAINS, params)
        start, start_cpu = time.perf_counter(), time.process_time()
        for result in chain:
            replayer.apply_block(result.block_number, result.pubdata, Expected(
                result.new_state_root_bytes, result.commitment, result.sync_hash,
                result.ops_hashes))
        return time.perf_counter() - start, time.process_time() - start_cpu

    # cold: the builder just hashed the same nodes, so empty the memo first (a node's
    # verifier replays blocks it has never seen)
    runs = []
    for _ in range(REPLAY_RUNS):  # best of N: the machine is shared, bursts hit single runs
        poseidon_memo_clear()
        runs.append(replay_all())
    replay_s = min(wall for wall, _ in runs)
    replay_cpu_s = min(cpu for _, cpu in runs)
    poseidon_memo_clear()
    replica_cpu_s = _lockstep_replicas(params, chain)
    shape: dict[str, Any] = {"depth": params.depth, "capacity": params.capacity,
                             "blocks": blocks}
    report.add("replay throughput", n_ops / replay_s, "ops/s", target=">= 2000", **shape)
    report.add("replay throughput (CPU time)", n_ops / replay_cpu_s, "ops/s", target=">= 2000",
               **shape)
    report.add("replay per block", replay_s / blocks * 1000, "ms", **shape)
    report.add("replay throughput per replica, 3 replicas in lockstep in-process (CPU time)",
               3 * n_ops / replica_cpu_s, "ops/s", **shape)
    report.add("build_block throughput", n_ops / build_s, "ops/s", **shape)


def _lockstep_replicas(params: RollupParams, chain: list[BlockResult]) -> float:
    """CPU seconds for three replicas replaying the chain block by block (the in-process
    simulator's shape: the Poseidon memo serves the second and third replica)."""
    replicas = [Replayer(CHAINS, params) for _ in range(3)]
    start_cpu = time.process_time()
    for result in chain:
        for replica in replicas:
            replica.apply_block(result.block_number, result.pubdata,
                                Expected(sync_hash=result.sync_hash))
    return time.process_time() - start_cpu


def _tree(report: BenchReport, depth: int, quick: bool) -> None:
    state = State(RollupParams(depth=depth, token_slots=2, capacity=16))
    counter = iter(range(1, 10**9))
    repeat = 20 if quick else 100
    poseidon_memo_clear()

    def one_leaf() -> None:
        value = next(counter)  # distinct values: measure hashing, not the memo
        state.tree.set_leaf(value % (1 << depth), value)

    one = time_call(one_leaf, repeat=repeat)
    report.add("tree update, one leaf", median_ms(one), "ms", depth=depth)
    rng = random.Random(3)

    def block_update() -> None:
        changes = {rng.randrange(1, 1 << depth): rng.randrange(1, 10**9) for _ in range(32)}
        state.tree.commit(state.tree.stage(changes))

    batch = time_call(block_update, repeat=max(5, repeat // 10))
    report.add("tree update, 32 leaves batched", median_ms(batch), "ms", depth=depth)


def run(report: BenchReport, *, quick: bool) -> None:
    """Run the rollup-core benchmarks (``quick``: fewer blocks)."""
    fresh = iter(range(1, 10**9))  # distinct inputs: the backend, not the memo
    report.add("poseidon(2) fast", median_ms(time_call(lambda: poseidon([1, next(fresh)]),
                                                       repeat=2000)) * 1000, "us")
    report.add("poseidon(2) reference", median_ms(time_call(
        lambda: poseidon_reference([1, 2]), repeat=20 if quick else 100)) * 1000, "us")
    report.add("poseidon(4) fast", median_ms(time_call(lambda: poseidon([1, 2, 3, next(fresh)]),
                                                       repeat=2000)) * 1000, "us")
    report.add("poseidon(4) memo hit", median_ms(time_call(lambda: poseidon_unchecked(
        [1, 2, 3, 4]), repeat=2000)) * 1000, "us")
    shapes = [(16, 4), (16, 16)] if quick else [(16, 4), (16, 16), (20, 16)]
    for depth, capacity in shapes:
        blocks = (200 if quick else 800) // capacity
        _replay(report, RollupParams(depth=depth, token_slots=2, capacity=capacity), blocks)
    for depth in (16, 20):
        _tree(report, depth, quick)
    report.note("Wall-clock rows suffer from other processes on a shared machine; the CPU-time "
                "row is this process's CPU seconds (the replay is single-threaded).")
    report.note(f"Replay rows are the best of {REPLAY_RUNS} cold replays (Poseidon memo emptied "
                "before each); the lockstep row replays each block on 3 replicas in turn.")
    report.note("Replay = decode pubdata + apply ops + hash dirty tree nodes once per block + "
                "commitment/opsHash/syncHash + compare with the chain's claims.")
