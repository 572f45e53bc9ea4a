"""One way to open and write the node's SQLite files (``node.db``, cursor stores, nonce ledgers).

Every file is opened alike: autocommit mode (``isolation_level=None``: a statement outside
:meth:`SqliteDatabase.transaction` commits at once), the WAL journal (except ``:memory:``),
``synchronous=FULL`` (a committed write is on disk before the caller acts on it), the schema
applied as ``CREATE … IF NOT EXISTS`` statements, and, when asked, a schema version checked
in a ``meta`` table. Multi-statement writes go through :meth:`SqliteDatabase.transaction`:
``BEGIN IMMEDIATE`` takes the write lock up front, so a check-then-write (slashing
protection, nonce reservation) never interleaves with another writer; ``COMMIT`` on success,
``ROLLBACK`` on any exception.

One connection per file, shared by the trio thread and worker threads: a lock serialises
every statement and transaction (``check_same_thread`` is off for that reason).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from oracle_node.errors import OracleNodeError, StoreError

META_SCHEMA = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
"""The key/value table holding the schema version (``key='schema'``) of versioned files."""


class SqliteDatabase:
    """One open SQLite file: autocommitted statements and immediate transactions, locked."""

    def __init__(self, conn: sqlite3.Connection, *, error: type[OracleNodeError] = StoreError
                 ) -> None:
        """Wrap an open autocommit connection (use :meth:`open`); ``error`` is raised when a
        transaction cannot begin."""
        self.conn = conn
        self.error = error
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path | str, *, schema: str, name: str,
             error: type[OracleNodeError] = StoreError,
             schema_version: int | None = None) -> SqliteDatabase:
        """Open (creating if needed) the file at ``path`` (``":memory:"`` for tests).

        Applies the pragmas and ``schema``; with ``schema_version`` the ``meta`` table is
        created too, a new file is stamped with the version and an existing file with another
        version is refused. Raises ``error`` (naming ``name`` and ``path``) when the file is
        unusable.
        """
        try:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        except sqlite3.Error as err:
            raise error(f"{name} {path} unusable: {err}") from err
        try:
            if str(path) != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            if schema_version is not None:
                conn.executescript(META_SCHEMA)
            conn.executescript(schema)
            if schema_version is not None:
                _check_version(conn, schema_version, name, path, error)
        except sqlite3.Error as err:
            conn.close()
            raise error(f"{name} {path} unusable: {err}") from err
        except OracleNodeError:
            conn.close()
            raise
        return cls(conn, error=error)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self.conn.close()

    def execute(self, sql: str, args: tuple[object, ...] = ()) -> int:
        """Run one statement (committed at once outside a transaction); returns its rowcount."""
        with self._lock:
            return self.conn.execute(sql, args).rowcount

    def one(self, sql: str, args: tuple[object, ...] = ()) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        with self._lock:
            row = self.conn.execute(sql, args).fetchone()
        return None if row is None else tuple(row)

    def all(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """Every row of a query."""
        with self._lock:
            return [tuple(r) for r in self.conn.execute(sql, args).fetchall()]

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction: committed when the block ends normally,
        rolled back on any exception (which propagates). Raises the database's ``error`` when
        it cannot begin."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise self.error(f"cannot begin transaction: {err}") from err
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise


def _check_version(conn: sqlite3.Connection, version: int, name: str, path: Path | str,
                   error: type[OracleNodeError]) -> None:
    row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    if row is None:
        conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(version),))
    elif str(row[0]) != str(version):
        raise error(f"{name} {path}: schema {row[0]} != supported {version}")
