"""The submitter's persistent nonce ledger (SQLite, synchronous=FULL).

Every signed transaction is written here *before* it is broadcast, so after a crash (even
``kill -9``) the node knows each nonce it may have used and the exact raw bytes it may have
sent. One row per nonce (``entry``) with the work key it serves and a state:

* ``open``: reserved and signed; attempts (fee bumps, a cancel) may be in the mempool;
* ``mined``: one of our attempts for the work was included (``mined_hash``);
* ``cancelled``: our 0-value self-transfer at that nonce was included;
* ``lost``: the chain consumed the nonce with a transaction we never signed.

A nonce whose only send was rejected outright never reached any pool and is released
(deleted), so the next work item reuses it: no gap, and no reuse of a nonce that may exist.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from oracle_node.chain.errors import NonceLedgerError
from oracle_node.store.sqlite import SqliteDatabase

# The continuation indents are part of the SQL text SQLite keeps in existing files: unchanged.
_SCHEMA = """
                CREATE TABLE IF NOT EXISTS entry (account TEXT, chain INTEGER, nonce INTEGER,
                    work_key TEXT, state TEXT, to_addr TEXT, data BLOB, value TEXT, gas INTEGER,
                    mined_hash BLOB, updated REAL, PRIMARY KEY (account, chain, nonce));
                CREATE INDEX IF NOT EXISTS entry_key ON entry (account, chain, work_key);
                CREATE TABLE IF NOT EXISTS attempt (account TEXT, chain INTEGER, nonce INTEGER,
                    tx_hash BLOB PRIMARY KEY, raw BLOB, max_fee TEXT, priority_fee TEXT,
                    kind TEXT, created REAL);
            """


@dataclass(frozen=True)
class Attempt:
    """One signed transaction for a nonce (``kind`` = ``work`` or ``cancel``)."""

    nonce: int
    tx_hash: bytes
    raw: bytes
    max_fee: int
    priority_fee: int
    kind: str


@dataclass(frozen=True)
class LedgerEntry:
    """The ledger's view of one nonce."""

    nonce: int
    work_key: str
    state: str
    to: str
    data: bytes
    value: int
    gas: int
    mined_hash: bytes | None


class NonceLedger:
    """Nonces and attempts of one (account, EVM chain) in SQLite."""

    def __init__(self, path: Path | str, *, account: str, chain_id: int) -> None:
        """Open (creating if needed) the ledger at ``path`` for ``account`` on ``chain_id``;
        raises ``NonceLedgerError`` if the file is unusable."""
        self.account = account.lower()
        self.chain_id = chain_id
        self.db = SqliteDatabase.open(path, schema=_SCHEMA, name="nonce ledger",
                                      error=NonceLedgerError)

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def _entries(self, where: str, args: tuple[object, ...]) -> list[LedgerEntry]:
        rows = self.db.all(
            "SELECT nonce, work_key, state, to_addr, data, value, gas, mined_hash FROM entry "
            f"WHERE account=? AND chain=? AND {where} ORDER BY nonce",
            (self.account, self.chain_id, *args))
        return [LedgerEntry(int(n), str(k), str(s), str(t), bytes(d), int(v), int(g),
                            None if m is None else bytes(m)) for n, k, s, t, d, v, g, m in rows]

    def open_entries(self) -> list[LedgerEntry]:
        """Entries still ``open``, lowest nonce first."""
        return self._entries("state='open'", ())

    def entry(self, nonce: int) -> LedgerEntry | None:
        """The entry of ``nonce``."""
        found = self._entries("nonce=?", (nonce,))
        return found[0] if found else None

    def entry_for_key(self, work_key: str) -> LedgerEntry | None:
        """The newest entry serving ``work_key`` that is not ``lost``."""
        found = self._entries("work_key=? AND state!='lost'", (work_key,))
        return found[-1] if found else None

    def highest_nonce(self) -> int | None:
        """The highest nonce ever recorded (any state)."""
        row = self.db.one("SELECT MAX(nonce) FROM entry WHERE account=? AND chain=?",
                          (self.account, self.chain_id))
        return None if row is None or row[0] is None else int(row[0])

    def reserve(self, *, work_key: str, to: str, data: bytes, value: int, gas: int,
                attempt: Attempt) -> None:
        """Record a new nonce and its first signed attempt atomically (before broadcasting)."""
        try:
            with self.db.transaction() as c:
                c.execute(
                    "INSERT INTO entry VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, NULL, ?)",
                    (self.account, self.chain_id, attempt.nonce, work_key, to, data, str(value),
                     gas, time.time()))
                self._insert_attempt(c, attempt)
        except sqlite3.IntegrityError as err:
            raise NonceLedgerError(f"nonce {attempt.nonce} is already recorded") from err

    def add_attempt(self, attempt: Attempt) -> None:
        """Record a replacement (fee bump or cancel) before broadcasting it."""
        with self.db.transaction() as c:
            self._insert_attempt(c, attempt)

    def _insert_attempt(self, c: sqlite3.Connection, a: Attempt) -> None:
        c.execute("INSERT OR IGNORE INTO attempt VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  (self.account, self.chain_id, a.nonce, a.tx_hash, a.raw, str(a.max_fee),
                   str(a.priority_fee), a.kind, time.time()))

    def attempts(self, nonce: int) -> list[Attempt]:
        """Every attempt of ``nonce``, oldest first."""
        rows = self.db.all(
            "SELECT nonce, tx_hash, raw, max_fee, priority_fee, kind FROM attempt "
            "WHERE account=? AND chain=? AND nonce=? ORDER BY created, rowid",
            (self.account, self.chain_id, nonce))
        return [Attempt(int(n), bytes(h), bytes(r), int(f), int(p), str(k))
                for n, h, r, f, p, k in rows]

    def set_state(self, nonce: int, state: str, mined_hash: bytes | None = None) -> None:
        """Move ``nonce`` to ``state`` (``mined``/``cancelled``/``lost``)."""
        self.db.execute(
            "UPDATE entry SET state=?, mined_hash=?, updated=? WHERE account=? AND chain=? "
            "AND nonce=?", (state, mined_hash, time.time(), self.account, self.chain_id, nonce))

    def release(self, nonce: int) -> None:
        """Forget a nonce no pool ever accepted, so that it is reused."""
        with self.db.transaction() as c:
            for table in ("entry", "attempt"):
                c.execute(f"DELETE FROM {table} WHERE account=? AND chain=? AND nonce=?",
                          (self.account, self.chain_id, nonce))
