"""Groth16 prover benchmarks (``oracle-testnet bench prover``).

Per (depth, capacity) in {(8, 2), (16, 4), (20, 16)} (``quick``: (8, 2) only): constraint
count (reported by the in-process circom compiler during setup), setup time (TESTNET ONLY
single-party setup; taken from the cache metadata when the keys were already cached),
cache load time, witness build time, prove time (wall and CPU seconds) and verify time.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from oracle_node.prover import BlockProof, load_or_setup, prove_block, verify_block_proof
from oracle_node.prover.keys import WASMTIME_ENV
from oracle_node.prover.witness import build_witness
from oracle_node.rollup import Deposit, Op, RollupParams, State, Transfer, build_block
from testnet.bench.report import BenchReport

CHAINS = (1, 2)
SHAPES = ((8, 2), (16, 4), (20, 16))


def _block(params: RollupParams) -> tuple[State, bytes]:
    """A pre-state with funded accounts and a full block of transfers and deposits."""
    state = State(params)
    k = params.capacity
    funding: list[Op] = [Deposit(1, i, 1, 10**18, i.to_bytes(20, "big"), i)
                         for i in range(1, k + 2)]
    number = 0
    for start in range(0, len(funding), k):
        number += 1
        build_block(state, funding[start:start + k], number, bytes(32), CHAINS)
    ops: list[Op] = []
    for slot in range(k):
        account = 1 + slot
        if slot % 2:
            ops.append(Deposit(2, account, 2, 5, account.to_bytes(20, "big"), 100 + slot))
        else:
            ops.append(Transfer(account, 1, 1000, account + 1, state.account(account).nonce))
    pre = state.copy()
    result = build_block(state, ops, number + 1, bytes(32), CHAINS)
    return pre, result.pubdata


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - start_cpu


def _shape(report: BenchReport, depth: int, capacity: int, proves: int) -> None:
    shape: dict[str, Any] = {"depth": depth, "capacity": capacity}
    start = time.perf_counter()
    keys = load_or_setup(depth, capacity)
    elapsed = time.perf_counter() - start
    report.add("constraints", keys.constraints or 0, "count", **shape)
    report.add("setup (TESTNET ONLY single-party)", float(keys.meta.get("setup_s", 0.0)), "s",
               **shape)
    report.add("load_or_setup this run (proving key loaded lazily)", elapsed, "s", **shape)
    wall, cpu = _timed(keys.load_proving_key)
    report.add("proving key load (first prove)", wall, "s", extra={"cpu_s": round(cpu, 3)},
               **shape)
    wall, _ = _timed(keys.witness_calculator)
    backend = "wasmtime" if keys.witness_calculator() else "groth16py (wasmtime unavailable)"
    report.add("witness generator load", wall, "s", extra={"backend": backend}, **shape)
    pre, pubdata = _block(keys.params)
    number = 10**6
    start = time.perf_counter()
    build_witness(pre, number, pubdata, frozenset(CHAINS))
    report.add("witness build", (time.perf_counter() - start) * 1000, "ms", **shape)
    walls, cpus = [], []
    proof: BlockProof | None = None
    for _ in range(proves):
        start, start_cpu = time.perf_counter(), time.process_time()
        proof = prove_block(keys, pre, number, pubdata, CHAINS)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    assert proof is not None
    target = "<= 6 (one core)" if (depth, capacity) == (16, 4) else None
    report.add("prove wall (incl. witness + self-verify)", statistics.median(walls), "s",
               target=target, **shape)
    report.add("prove CPU time", statistics.median(cpus), "s", target=target, **shape)
    if depth < 20:  # the same block with groth16py's interpreted witness generator
        saved = os.environ.get(WASMTIME_ENV)
        os.environ[WASMTIME_ENV] = "0"
        try:
            wall, cpu = _timed(lambda: prove_block(keys, pre, number, pubdata, CHAINS))
        finally:
            if saved is None:
                del os.environ[WASMTIME_ENV]
            else:
                os.environ[WASMTIME_ENV] = saved
        report.add("prove CPU time, groth16py witness (before)", cpu, "s",
                   extra={"wall_s": round(wall, 3)}, **shape)
    start = time.perf_counter()
    for _ in range(10):
        assert verify_block_proof(keys, proof.proof, proof.public_inputs)
    report.add("verify (off-chain)", (time.perf_counter() - start) * 100, "ms", **shape)


def run(report: BenchReport, *, quick: bool) -> None:
    """Run the prover benchmarks (``quick``: the small test circuit only)."""
    for depth, capacity in SHAPES[:1] if quick else SHAPES:
        _shape(report, depth, capacity, proves=2 if depth < 20 else 1)
    report.note("Setup is groth16py's single-party setup: TESTNET ONLY. Keys are cached under "
                ".cache/prover/<circuit hash>; a cached run reports the setup time recorded "
                "when the keys were made.")
    report.note("Proving = the circuit's witness wasm under wasmtime (JIT), then groth16py's "
                "prove_wtns; the 'groth16py witness' row is groth16py.prove (wasmi interpreter) "
                "on the same block. The proving key is loaded on first use (groth16py validates "
                "every point; it holds the GIL meanwhile).")
    report.note("CPU time is process CPU seconds (all threads); on a shared 2-core machine the "
                "wall time includes waiting for other processes.")
