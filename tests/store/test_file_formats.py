"""The on-disk formats of node.db, cursor stores and nonce ledgers stay byte-compatible.

``tests/golden/store/sqlite_master.json`` holds the schema SQLite recorded in files made by the
code before the shared SQLite helper: new files must record exactly that, and a file built from
it (an existing node's file) must open and read back.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from oracle_node.chain.cursor import Cursor, EmittedRecord, SqliteCursorStore
from oracle_node.chain.ledger import Attempt, NonceLedger
from oracle_node.errors import SlashingProtectionError, StoreError
from oracle_node.store.db import SCHEMA_VERSION, NodeStore

GOLDEN = json.loads((Path(__file__).parents[1] / "golden" / "store" / "sqlite_master.json")
                    .read_text())
ACCOUNT = "0x00000000000000000000000000000000000000aB"


def master(path: Path) -> list[list[str | None]]:
    """sqlite_master rows in creation order."""
    conn = sqlite3.connect(path)
    try:
        return [list(r) for r in conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid")]
    finally:
        conn.close()


def legacy_file(path: Path, kind: str, rows: list[tuple[str, tuple[object, ...]]]) -> None:
    """A file as the old code left it: WAL, its golden schema, then ``rows`` inserted."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for _type, _name, _table, sql in GOLDEN[kind]:
        if sql is not None:
            conn.execute(sql)
    for sql, args in rows:
        conn.execute(sql, args)
    conn.close()


def test_new_files_record_the_golden_schema(tmp_path: Path) -> None:
    SqliteCursorStore(tmp_path / "c.db").close()
    NonceLedger(tmp_path / "l.db", account=ACCOUNT, chain_id=1).close()
    NodeStore.open(tmp_path / "n.db").close()
    assert master(tmp_path / "c.db") == GOLDEN["cursor_store"]
    assert master(tmp_path / "l.db") == GOLDEN["nonce_ledger"]
    assert master(tmp_path / "n.db") == GOLDEN["node_database"]


def test_legacy_node_db_opens_and_keeps_slashing_protection(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    legacy_file(path, "node_database", [
        ("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),)),
        ("INSERT INTO own_signatures VALUES (?, ?, ?, ?)", (5, 1, b"\x01" * 32, b"sig")),
        ("INSERT INTO verified VALUES (?, ?, ?, ?)", (5, b"\x01" * 32, b"\x02" * 32, 1)),
    ])
    store = NodeStore.open(path)
    try:
        assert store.verified(5) == (b"\x01" * 32, b"\x02" * 32)
        assert store.record_own_signature(5, 1, b"\x01" * 32, b"new") == b"sig"
        with pytest.raises(SlashingProtectionError):
            store.record_own_signature(5, 1, b"\x03" * 32, b"other")
        assert store.own_signature(5, 1) == (b"\x01" * 32, b"sig")
        assert store.own_signature_count() == 1
    finally:
        store.close()


def test_node_db_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    legacy_file(path, "node_database", [("INSERT INTO meta VALUES ('schema', '99')", ())])
    with pytest.raises(StoreError, match="schema 99"):
        NodeStore.open(path)


def test_legacy_cursor_store_opens(tmp_path: Path) -> None:
    path = tmp_path / "cursor.db"
    legacy_file(path, "cursor_store", [
        ("INSERT INTO cursor VALUES (?, ?, ?)", (1, 40, b"\xaa" * 32)),
        ("INSERT INTO checkpoint VALUES (?, ?, ?)", (1, 40, b"\xaa" * 32)),
        ("INSERT INTO emitted VALUES (?, ?, ?, ?, ?, ?)", (1, b"\xbb" * 32, 3, 39, "Proven", 7)),
    ])
    store = SqliteCursorStore(path)
    try:
        assert store.load_cursor(1) == Cursor(40, b"\xaa" * 32)
        assert store.checkpoints(1) == [Cursor(40, b"\xaa" * 32)]
        assert store.was_emitted(1, b"\xbb" * 32, 3)
        assert store.emitted_above(1, 0) == [EmittedRecord(39, b"\xbb" * 32, 3, "Proven", 7)]
        store.save_cursor(1, Cursor(41, b"\xcc" * 32))
        store.rewind(1, Cursor(40, b"\xaa" * 32))
        assert store.checkpoints(1) == [Cursor(40, b"\xaa" * 32)]
    finally:
        store.close()


def test_legacy_nonce_ledger_opens(tmp_path: Path) -> None:
    path = tmp_path / "ledger-1.db"
    account = ACCOUNT.lower()
    legacy_file(path, "nonce_ledger", [
        ("INSERT INTO entry VALUES (?, 1, 4, 'work', 'open', '0xto', ?, '0', 21000, NULL, 1.0)",
         (account, b"\x01")),
        ("INSERT INTO attempt VALUES (?, 1, 4, ?, ?, '10', '1', 'work', 1.0)",
         (account, b"\x0a" * 32, b"raw")),
    ])
    ledger = NonceLedger(path, account=ACCOUNT, chain_id=1)
    try:
        assert [e.nonce for e in ledger.open_entries()] == [4]
        assert ledger.attempts(4) == [Attempt(4, b"\x0a" * 32, b"raw", 10, 1, "work")]
        assert ledger.highest_nonce() == 4
        ledger.release(4)
        assert ledger.entry(4) is None
        assert ledger.attempts(4) == []
        assert ledger.highest_nonce() is None
    finally:
        ledger.close()
