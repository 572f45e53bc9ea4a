"""The shared SQLite helper: pragmas, schema versions, transactions, typed failures."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from oracle_node.chain.errors import NonceLedgerError
from oracle_node.errors import StoreError
from oracle_node.store.sqlite import SqliteDatabase

SCHEMA = "CREATE TABLE IF NOT EXISTS item (k INTEGER PRIMARY KEY, v TEXT NOT NULL);"


def test_open_sets_wal_and_full_sync_and_applies_the_schema(tmp_path: Path) -> None:
    db = SqliteDatabase.open(tmp_path / "a.db", schema=SCHEMA, name="test db")
    try:
        assert db.one("PRAGMA journal_mode") == ("wal",)
        assert db.one("PRAGMA synchronous") == (2,)  # FULL
        assert db.execute("INSERT INTO item VALUES (1, 'x')") == 1
    finally:
        db.close()
    # autocommit: the row is on disk for an unrelated connection
    other = sqlite3.connect(tmp_path / "a.db")
    assert other.execute("SELECT v FROM item").fetchall() == [("x",)]
    other.close()


def test_memory_database_skips_wal() -> None:
    db = SqliteDatabase.open(":memory:", schema=SCHEMA, name="test db")
    assert db.one("PRAGMA journal_mode") == ("memory",)
    assert db.all("SELECT * FROM item") == []
    db.close()


def test_transaction_commits_or_rolls_back_everything(tmp_path: Path) -> None:
    db = SqliteDatabase.open(tmp_path / "t.db", schema=SCHEMA, name="test db")
    with db.transaction() as c:
        c.execute("INSERT INTO item VALUES (1, 'a')")
        c.execute("INSERT INTO item VALUES (2, 'b')")
    with pytest.raises(RuntimeError, match="boom"), db.transaction() as c:
        c.execute("INSERT INTO item VALUES (3, 'c')")
        c.execute("UPDATE item SET v='changed' WHERE k=1")
        raise RuntimeError("boom")
    with pytest.raises(sqlite3.IntegrityError), db.transaction() as c:
        c.execute("INSERT INTO item VALUES (4, 'd')")
        c.execute("INSERT INTO item VALUES (1, 'duplicate')")
    assert db.all("SELECT k, v FROM item ORDER BY k") == [(1, "a"), (2, "b")]
    assert not db.conn.in_transaction
    db.close()


def test_transactions_from_threads_are_serialised(tmp_path: Path) -> None:
    db = SqliteDatabase.open(tmp_path / "th.db", schema=SCHEMA, name="test db")

    def bump(base: int) -> None:
        for i in range(50):
            with db.transaction() as c:
                c.execute("INSERT INTO item VALUES (?, 'x')", (base + i,))

    threads = [threading.Thread(target=bump, args=(1000 * n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.one("SELECT COUNT(*) FROM item") == (200,)
    db.close()


def test_schema_version_is_stamped_then_enforced(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    SqliteDatabase.open(path, schema=SCHEMA, name="test db", schema_version=3).close()
    db = SqliteDatabase.open(path, schema=SCHEMA, name="test db", schema_version=3)
    assert db.one("SELECT value FROM meta WHERE key='schema'") == ("3",)
    db.close()
    with pytest.raises(StoreError, match=r"schema 3 != supported 4"):
        SqliteDatabase.open(path, schema=SCHEMA, name="test db", schema_version=4)


def test_unusable_file_raises_the_callers_error_type(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError, match=r"test db .* unusable"):
        SqliteDatabase.open(garbage, schema=SCHEMA, name="test db")
    with pytest.raises(NonceLedgerError, match=r"ledger .* unusable"):
        SqliteDatabase.open(garbage, schema=SCHEMA, name="ledger", error=NonceLedgerError)
    with pytest.raises(StoreError):
        SqliteDatabase.open(tmp_path / "missing" / "x.db", schema=SCHEMA, name="test db")


def test_failed_begin_is_a_typed_error(tmp_path: Path) -> None:
    db = SqliteDatabase.open(tmp_path / "b.db", schema=SCHEMA, name="ledger",
                             error=NonceLedgerError)
    db.close()
    with pytest.raises(NonceLedgerError, match="cannot begin transaction"), db.transaction():
        pass
