"""Where a watcher resumes after a restart: the ``CursorStore`` port, in memory and in SQLite.

Per chain the store keeps the cursor (last fully processed height and its block hash), a
window of recent checkpoints (to find the fork point after a reorg) and the events already
emitted (block hash, log index) so that a rescan never emits the same event twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from oracle_node.store.sqlite import SqliteDatabase

CHECKPOINTS_KEPT = 256

# The continuation indents are part of the SQL text SQLite keeps in existing files: unchanged.
_SCHEMA = """
                CREATE TABLE IF NOT EXISTS cursor (chain INTEGER PRIMARY KEY, height INTEGER,
                                                   hash BLOB);
                CREATE TABLE IF NOT EXISTS checkpoint (chain INTEGER, height INTEGER, hash BLOB,
                                                       PRIMARY KEY (chain, height));
                CREATE TABLE IF NOT EXISTS emitted (chain INTEGER, hash BLOB, log_index INTEGER,
                    height INTEGER, kind TEXT, ident INTEGER,
                    PRIMARY KEY (chain, hash, log_index));
            """


@dataclass(frozen=True)
class Cursor:
    """Everything up to ``height`` was processed; ``block_hash`` is that block's hash."""

    height: int
    block_hash: bytes


@dataclass(frozen=True)
class EmittedRecord:
    """One emitted event: where it came from and what a retraction must name."""

    height: int
    block_hash: bytes
    log_index: int
    kind: str
    ident: int


class CursorStore(Protocol):
    """Persistence of a watcher's progress (keyed by rollup chain id)."""

    def load_cursor(self, chain: int) -> Cursor | None:
        """The saved cursor, or None on first start."""
        ...

    def save_cursor(self, chain: int, cursor: Cursor) -> None:
        """Advance the cursor (also kept as a checkpoint)."""
        ...

    def checkpoints(self, chain: int) -> list[Cursor]:
        """Recent cursors, highest first."""
        ...

    def rewind(self, chain: int, cursor: Cursor) -> None:
        """Set the cursor back to ``cursor`` and forget checkpoints above it."""
        ...

    def record_emitted(self, chain: int, record: EmittedRecord) -> None:
        """Remember an emitted event."""
        ...

    def was_emitted(self, chain: int, block_hash: bytes, log_index: int) -> bool:
        """True if this (block hash, log index) was emitted and not retracted."""
        ...

    def emitted_above(self, chain: int, height: int) -> list[EmittedRecord]:
        """Emitted events above ``height``, highest first."""
        ...

    def forget_emitted(self, chain: int, record: EmittedRecord) -> None:
        """Drop one record (after its retraction was sent)."""
        ...

    def prune(self, chain: int, below_height: int) -> None:
        """Forget emitted records below ``below_height`` (older than any plausible reorg)."""
        ...


class MemoryCursorStore:
    """``CursorStore`` in a dict (tests, the in-process cluster)."""

    def __init__(self) -> None:
        self.cursors: dict[int, Cursor] = {}
        self.points: dict[int, list[Cursor]] = {}
        self.emitted: dict[int, dict[tuple[bytes, int], EmittedRecord]] = {}

    def load_cursor(self, chain: int) -> Cursor | None:
        """See ``CursorStore``."""
        return self.cursors.get(chain)

    def save_cursor(self, chain: int, cursor: Cursor) -> None:
        """See ``CursorStore``."""
        self.cursors[chain] = cursor
        points = self.points.setdefault(chain, [])
        points.insert(0, cursor)
        del points[CHECKPOINTS_KEPT:]

    def checkpoints(self, chain: int) -> list[Cursor]:
        """See ``CursorStore``."""
        return list(self.points.get(chain, []))

    def rewind(self, chain: int, cursor: Cursor) -> None:
        """See ``CursorStore``."""
        self.points[chain] = [c for c in self.points.get(chain, []) if c.height <= cursor.height]
        self.cursors[chain] = cursor

    def record_emitted(self, chain: int, record: EmittedRecord) -> None:
        """See ``CursorStore``."""
        self.emitted.setdefault(chain, {})[(record.block_hash, record.log_index)] = record

    def was_emitted(self, chain: int, block_hash: bytes, log_index: int) -> bool:
        """See ``CursorStore``."""
        return (block_hash, log_index) in self.emitted.get(chain, {})

    def emitted_above(self, chain: int, height: int) -> list[EmittedRecord]:
        """See ``CursorStore``."""
        recs = [r for r in self.emitted.get(chain, {}).values() if r.height > height]
        return sorted(recs, key=lambda r: (r.height, r.log_index), reverse=True)

    def forget_emitted(self, chain: int, record: EmittedRecord) -> None:
        """See ``CursorStore``."""
        self.emitted.get(chain, {}).pop((record.block_hash, record.log_index), None)

    def prune(self, chain: int, below_height: int) -> None:
        """See ``CursorStore``."""
        recs = self.emitted.get(chain, {})
        for key in [k for k, r in recs.items() if r.height < below_height]:
            del recs[key]


class SqliteCursorStore:
    """``CursorStore`` in one SQLite file (WAL, every write committed at once)."""

    def __init__(self, path: Path | str) -> None:
        """Open (creating if needed) the store at ``path``; raises ``StoreError`` if unusable."""
        self.db = SqliteDatabase.open(path, schema=_SCHEMA, name="cursor store")

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def load_cursor(self, chain: int) -> Cursor | None:
        """See ``CursorStore``."""
        row = self.db.one("SELECT height, hash FROM cursor WHERE chain=?", (chain,))
        return None if row is None else Cursor(int(row[0]), bytes(row[1]))

    def save_cursor(self, chain: int, cursor: Cursor) -> None:
        """See ``CursorStore``."""
        with self.db.transaction() as c:
            c.execute("INSERT OR REPLACE INTO cursor VALUES (?, ?, ?)",
                      (chain, cursor.height, cursor.block_hash))
            c.execute("INSERT OR REPLACE INTO checkpoint VALUES (?, ?, ?)",
                      (chain, cursor.height, cursor.block_hash))
            c.execute(
                "DELETE FROM checkpoint WHERE chain=? AND height NOT IN (SELECT height FROM "
                "checkpoint WHERE chain=? ORDER BY height DESC LIMIT ?)",
                (chain, chain, CHECKPOINTS_KEPT))

    def checkpoints(self, chain: int) -> list[Cursor]:
        """See ``CursorStore``."""
        rows = self.db.all(
            "SELECT height, hash FROM checkpoint WHERE chain=? ORDER BY height DESC", (chain,))
        return [Cursor(int(h), bytes(b)) for h, b in rows]

    def rewind(self, chain: int, cursor: Cursor) -> None:
        """See ``CursorStore``."""
        with self.db.transaction() as c:
            c.execute("DELETE FROM checkpoint WHERE chain=? AND height>?", (chain, cursor.height))
            c.execute("INSERT OR REPLACE INTO cursor VALUES (?, ?, ?)",
                      (chain, cursor.height, cursor.block_hash))

    def record_emitted(self, chain: int, record: EmittedRecord) -> None:
        """See ``CursorStore``."""
        self.db.execute("INSERT OR REPLACE INTO emitted VALUES (?, ?, ?, ?, ?, ?)",
                        (chain, record.block_hash, record.log_index, record.height,
                         record.kind, record.ident))

    def was_emitted(self, chain: int, block_hash: bytes, log_index: int) -> bool:
        """See ``CursorStore``."""
        return self.db.one(
            "SELECT 1 FROM emitted WHERE chain=? AND hash=? AND log_index=?",
            (chain, block_hash, log_index)) is not None

    def emitted_above(self, chain: int, height: int) -> list[EmittedRecord]:
        """See ``CursorStore``."""
        rows = self.db.all(
            "SELECT height, hash, log_index, kind, ident FROM emitted WHERE chain=? AND height>? "
            "ORDER BY height DESC, log_index DESC", (chain, height))
        return [EmittedRecord(int(h), bytes(b), int(i), str(k), int(d)) for h, b, i, k, d in rows]

    def forget_emitted(self, chain: int, record: EmittedRecord) -> None:
        """See ``CursorStore``."""
        self.db.execute("DELETE FROM emitted WHERE chain=? AND hash=? AND log_index=?",
                        (chain, record.block_hash, record.log_index))

    def prune(self, chain: int, below_height: int) -> None:
        """See ``CursorStore``."""
        self.db.execute("DELETE FROM emitted WHERE chain=? AND height<?", (chain, below_height))
