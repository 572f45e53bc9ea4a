"""The small circuit's keys for the prover tests (set up on first use and cached under
``.cache/prover``, TESTNET ONLY single-party setup)."""

from __future__ import annotations

import pytest

from oracle_node.prover import ProverKeys, load_or_setup
from tests.prover.helpers import CAPACITY, DEPTH


@pytest.fixture(scope="module")
def keys() -> ProverKeys:
    """The small circuit's keys (cached on disk), proving key loaded through the background
    loader."""
    loaded = load_or_setup(DEPTH, CAPACITY)
    loaded.load_in_background().join(timeout=300)
    assert loaded.proving_key_loaded
    return loaded
