"""Threshold-BLS micro-benchmarks per backend (``oracle-testnet bench crypto``).

keygen, sign, verify, partial sign/verify, combine (t = 3, 11, 43), batch verification of t
partials (random linear combination), and in-process DKG / reshare wall time (all n
participants run sequentially in this one process, so the figure is the sum of every
member's work; a real member does roughly 1/n of it, concurrently with the others).
py_ecc (pure Python) only gets the cheap single operations with small repeat counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from consensus import bls
from consensus.dkg import Participant, dkg_participants, reshare_participants, run_ceremony
from consensus.message import signing_message
from consensus.threshold import (
    PartialSignature,
    combine,
    partial_sign,
    trusted_dealer_split_for_tests,
    verify_partial,
)
from testnet.bench.report import BenchReport, median_ms, time_call

COMMITTEES = ((4, 3), (16, 11), (64, 43))


def _add_ms(report: BenchReport, name: str, fn: Callable[[], object], repeat: int, *,
            target: str | None = None, warmup: int = 1, **params: object) -> None:
    """Median wall time plus mean CPU time of this process (the machine is shared: wall
    time includes waiting for a core, CPU time is the operation's own cost)."""
    cpu_start = time.process_time()
    durations = time_call(fn, repeat=repeat, warmup=warmup)
    cpu_ms = (time.process_time() - cpu_start) / (repeat + warmup) * 1000.0
    report.add(name, median_ms(durations), "ms", target=target,
               extra={"cpu_ms": round(cpu_ms, 4)}, **params)


def _message(block: int) -> bytes:
    return signing_message(network_id=1, epoch=1, block_number=block,
                           final_root=block.to_bytes(32, "big"))


def _single_ops(report: BenchReport, backend: str, repeat: int) -> None:
    sk = bls.keygen(b"\x11" * 32)
    pk = bls.public_key(sk, backend=backend)
    msg = _message(1)
    sig = bls.sign(sk, msg, backend=backend)
    counter = iter(range(10, 10**9))

    def sign_fresh() -> object:
        return bls.sign(sk, _message(next(counter)), backend=backend)

    def verify_fresh() -> object:
        return bls.verify(pk, _message(next(counter)), sig, backend=backend)

    fresh_keys = iter([bls.public_key(bls.keygen(bytes([i]) * 32)).to_bytes()
                       for i in range(1, repeat + 2)])

    def decode_fresh() -> object:  # distinct keys: the backend remembers validated encodings
        return bls.PublicKey.from_bytes(next(fresh_keys), backend=backend)

    ops = {
        "keygen + public key": lambda: bls.public_key(bls.keygen(b"\x12" * 32),
                                                      backend=backend),
        "sign": sign_fresh,
        "verify (fresh message)": verify_fresh,
        "verify (hash cached)": lambda: bls.verify(pk, msg, sig, backend=backend),
        "decode public key (strict, uncached)": decode_fresh,
    }
    for name, fn in ops.items():
        _add_ms(report, name, fn, repeat, backend=backend, repeats=repeat)


def _threshold_ops(report: BenchReport, backend: str, repeat: int, sizes: tuple[int, ...]) -> None:
    for n, t in COMMITTEES:
        if t in sizes:
            _threshold_committee(report, backend, repeat, n, t)


def _threshold_committee(report: BenchReport, backend: str, repeat: int, n: int, t: int) -> None:
    group_pk, shares, pubs = trusted_dealer_split_for_tests(t, n, b"bench")
    msg = _message(2)
    partials = [partial_sign(s, msg, backend=backend) for s in shares]
    chosen: list[PartialSignature] = partials[n - t:]
    pairs = [(pubs[p.index - 1].public_key, p.signature) for p in chosen]

    def one_partial_verify() -> bool:
        return verify_partial(pubs[1], msg, partials[1], backend=backend)

    def all_partials_verify() -> list[bool]:
        return [verify_partial(pubs[p.index - 1], msg, p, backend=backend) for p in chosen]

    def optimistic() -> bool:
        return bls.verify(group_pk, msg, combine(chosen, t, backend=backend), backend=backend)

    arkworks = backend == "arkworks"
    _add_ms(report, "partial sign", lambda: partial_sign(shares[0], msg, backend=backend),
            repeat, backend=backend, t=t)
    _add_ms(report, "partial verify", one_partial_verify, repeat, backend=backend, t=t,
            target="<= 3 ms" if arkworks else None)
    _add_ms(report, "combine", lambda: combine(chosen, t, backend=backend), repeat,
            backend=backend, t=t, target="<= 3 ms" if arkworks and t == 11 else None)
    _add_ms(report, "verify t partials one by one", all_partials_verify,
            max(1, repeat // 5), warmup=0, backend=backend, t=t)
    _add_ms(report, "batch verify t partials (random lin. comb.)",
            lambda: bls.batch_verify_same_message(pairs, msg, backend=backend), repeat,
            backend=backend, t=t)
    _add_ms(report, "optimistic combine + verify group sig", optimistic, repeat,
            backend=backend, t=t)


def _ceremony(participants: list[Participant]) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    finished = run_ceremony(participants)
    elapsed, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    if any(p.result is None for p in finished):
        raise RuntimeError("benchmark ceremony failed")
    return elapsed, cpu_s


def _ceremonies(report: BenchReport, committees: tuple[tuple[int, int], ...]) -> None:
    for n, t in committees:
        elapsed, cpu_s = _ceremony(dkg_participants(n, t, seed=b"\x21" * 32))
        report.add("DKG in-process (all members)", elapsed, "s", backend="arkworks", n=n, t=t,
                   target="<= 30 s" if n == 16 else None,
                   extra={"per_member_s": elapsed / n, "cpu_s": cpu_s})
        finished = run_ceremony(dkg_participants(n, t, seed=b"\x22" * 32))
        result = finished[0].result
        assert result is not None
        shares = [p.result.share for p in finished if p.result is not None and p.result.share]
        resharing = reshare_participants(
            shares, list(result.public_shares), t, result.group_public_key, new_n=n,
            new_threshold=t, stays={i: i for i in range(1, n + 1)}, seed=b"\x23" * 32)
        elapsed, cpu_s = _ceremony(resharing)
        report.add("reshare in-process (all members)", elapsed, "s", backend="arkworks", n=n,
                   t=t, extra={"per_member_s": elapsed / n, "cpu_s": cpu_s})


def run(report: BenchReport, *, quick: bool) -> None:
    """Add the crypto rows to ``report`` (``quick``: fewer repeats, no n = 64 ceremony)."""
    repeat = 5 if quick else 30
    _single_ops(report, "arkworks", repeat)
    _threshold_ops(report, "arkworks", repeat, (3, 11, 43))
    _single_ops(report, "py_ecc", 1 if quick else 3)
    _threshold_ops(report, "py_ecc", 1 if quick else 3, (3,))
    _ceremonies(report, COMMITTEES[:2] if quick else COMMITTEES)
    report.note("arkworks caches decoded points and message hashes (LRU); 'verify (fresh "
                "message)' includes hash-to-curve, partial verify reuses the block's hash as a "
                "node does for its t partials.")
    report.note("in-process ceremonies run every member sequentially in one process and share "
                "the point-decoding caches; per_member_s = total / n.")
