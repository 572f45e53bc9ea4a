"""Poseidon over BN254 with the circomlib constants.

``poseidon`` is the fast backend (``light_poseidon_python``, Rust); ``poseidon_reference``
is a pure-Python implementation of circomlib's ``poseidon_old.circom`` (the unoptimised
round structure) reading the constants from the circomlib vendored by ``groth16py``. The
two are cross-checked in tests (e.g. ``poseidon([1, 2]) = 0x115cc0f5…189a``).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence

import groth16py
import light_poseidon_python

from oracle_node.errors import RollupError

BN254_R = 21888242871839275222246405745257275088548364400416034343698204186575808495617
MAX_INPUTS = 12
"""The largest input count both backends support (light-poseidon's limit)."""
_ROUNDS_F = 8
_ROUNDS_P = (56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68)


class PoseidonError(RollupError):
    """Raised when Poseidon gets an unsupported input count or a non-field input."""


@functools.cache
def _hasher(n_inputs: int) -> light_poseidon_python.Hasher:
    return light_poseidon_python.Hasher(n_inputs)


def _check(inputs: Sequence[int]) -> None:
    if not 1 <= len(inputs) <= MAX_INPUTS:
        raise PoseidonError(f"poseidon takes 1..{MAX_INPUTS} inputs, got {len(inputs)}")
    for x in inputs:
        if not 0 <= x < BN254_R:
            raise PoseidonError(f"poseidon input {x} is not a BN254 field element")


def poseidon(inputs: Sequence[int]) -> int:
    """Poseidon hash of 1..12 field elements (fast Rust backend)."""
    _check(inputs)
    return poseidon_unchecked(inputs)


def poseidon_unchecked(inputs: Sequence[int]) -> int:
    """``poseidon`` without input validation, for the tree's hot path (inputs are known good).

    Memoised in a bounded LRU (``MEMO_SIZE`` entries, ~2 MB): a call costs 30-90 µs in the
    Rust backend, and the same nodes are hashed again when several replicas replay the same
    block in one process (the in-process simulator) or the prover re-derives a block the
    sequencer just built. A miss costs ~0.3 µs extra."""
    return _memo_poseidon(tuple(inputs))


MEMO_SIZE = 4096
"""Entries of the Poseidon memo (least recently used ones are dropped)."""


@functools.lru_cache(maxsize=MEMO_SIZE)
def _memo_poseidon(inputs: tuple[int, ...]) -> int:
    out: str = _hasher(len(inputs)).hash_bytes_be([x.to_bytes(32, "big") for x in inputs])
    return int(out, 16)


def poseidon_memo_clear() -> None:
    """Empty the Poseidon memo (benchmarks use it to measure cold hashing)."""
    _memo_poseidon.cache_clear()


def poseidon_memo_hits() -> tuple[int, int]:
    """``(hits, misses)`` of the Poseidon memo since it was last cleared."""
    info = _memo_poseidon.cache_info()
    return info.hits, info.misses


def poseidon2(left: int, right: int) -> int:
    """Poseidon of two known-good field elements (a Merkle node)."""
    out: str = _hasher(2).hash_bytes_be([left.to_bytes(32, "big"), right.to_bytes(32, "big")])
    return int(out, 16)


@functools.cache
def _constants_source() -> str:
    path = os.path.join(groth16py.circomlib_path(2), "poseidon_constants_old.circom")
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _function_body(name: str, t: int) -> str:
    text = _constants_source()
    start = text.index(f"function {name}(t)")
    branch = re.compile(r"if \(t == (\d+)\) \{(.*?)\}", re.S)
    for match in branch.finditer(text, start):
        if int(match.group(1)) == t:
            return match.group(2)
    raise PoseidonError(f"no circomlib {name} constants for t={t}")


@functools.cache
def _round_constants(t: int) -> tuple[int, ...]:
    return tuple(int(x, 0) for x in re.findall(r"0x[0-9a-fA-F]+|\d+", _function_body(
        "POSEIDON_C", t).split("return", 1)[1]))


@functools.cache
def _mds(t: int) -> tuple[tuple[int, ...], ...]:
    values = [int(x, 0) for x in re.findall(r"0x[0-9a-fA-F]+|\d+", _function_body(
        "POSEIDON_M", t).split("return", 1)[1])]
    if len(values) != t * t:
        raise PoseidonError(f"circomlib MDS for t={t} has {len(values)} entries")
    return tuple(tuple(values[i * t:(i + 1) * t]) for i in range(t))


def poseidon_reference(inputs: Sequence[int]) -> int:
    """Pure-Python circomlib Poseidon (slow; the reference the fast backend is checked against)."""
    _check(inputs)
    t = len(inputs) + 1
    rounds_p = _ROUNDS_P[t - 2]
    constants = _round_constants(t)
    mds = _mds(t)
    if len(constants) != t * (_ROUNDS_F + rounds_p):
        raise PoseidonError(f"circomlib round constants for t={t} have the wrong length")
    state = [0, *inputs]
    p = BN254_R
    for rnd in range(_ROUNDS_F + rounds_p):
        state = [(x + constants[t * rnd + j]) % p for j, x in enumerate(state)]
        full = rnd < _ROUNDS_F // 2 or rnd >= _ROUNDS_F // 2 + rounds_p
        if full:
            state = [pow(x, 5, p) for x in state]
        else:
            state[0] = pow(state[0], 5, p)
        state = [sum(m * x for m, x in zip(row, state, strict=True)) % p for row in mds]
    return state[0]
