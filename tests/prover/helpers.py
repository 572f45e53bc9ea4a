"""The small test circuit (depth 8, capacity 2) shared by the prover tests."""

from __future__ import annotations

from oracle_node.rollup import RollupParams

DEPTH, CAPACITY = 8, 2
PARAMS = RollupParams(depth=DEPTH, token_slots=2, capacity=CAPACITY)
CHAINS = (1, 2)
ALICE, BOB = b"\xaa" * 20, b"\xbb" * 20
