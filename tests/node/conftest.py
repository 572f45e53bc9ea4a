"""Fixtures for node component tests: a real threshold scheme, a store and metrics."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from consensus import threshold
from oracle_node.keys import ConsensusScheme
from oracle_node.metrics import NodeMetrics
from oracle_node.store.db import NodeStore

NETWORK_ID = 7


def make_schemes(t: int, n: int, seed: bytes = b"node-tests") -> list[ConsensusScheme]:
    """One ConsensusScheme per member of a trusted-dealer t-of-n key."""
    group, shares, public = threshold.trusted_dealer_split_for_tests(t, n, seed)
    pubs = {p.index: p.public_key for p in public}
    return [ConsensusScheme(network_id=NETWORK_ID, threshold_t=t, group_key=group,
                            public_shares=pubs, own_share=s) for s in shares]


@pytest.fixture(scope="session")
def schemes() -> list[ConsensusScheme]:
    """A 3-of-4 signer set."""
    return make_schemes(3, 4)


@pytest.fixture
def store() -> Iterator[NodeStore]:
    """An in-memory node database."""
    db = NodeStore.open(":memory:")
    yield db
    db.close()


@pytest.fixture
def metrics() -> NodeMetrics:
    """Fresh metrics."""
    return NodeMetrics(cluster="test", peer="p1")
