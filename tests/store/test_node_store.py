"""NodeStore queries: per-block records and restart re-scheduling reads."""

from __future__ import annotations

from oracle_node.store.db import NodeStore, StoredAggregate


def _agg(block: int, epoch: int) -> StoredAggregate:
    return StoredAggregate(block, epoch, bytes([block]) * 32, bytes([epoch]) * 96, (1, 2))


def test_block_record_holds_only_that_blocks_aggregates() -> None:
    store = NodeStore.open(":memory:")
    try:
        for agg in (_agg(3, 2), _agg(3, 1), _agg(4, 1), _agg(9, 1), _agg(2, 1)):
            store.record_aggregate(agg)
        assert store.block_record(3).aggregates == (_agg(3, 1), _agg(3, 2))
        assert store.block_record(5).aggregates == ()
        assert [(a.block, a.epoch) for a in store.aggregates_since(3)] == [
            (3, 1), (3, 2), (4, 1), (9, 1)]
    finally:
        store.close()
