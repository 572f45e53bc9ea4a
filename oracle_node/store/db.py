"""The node's embedded SQLite database: everything a restart needs to resume.

One file per node (``<node dir>/node.db``), WAL mode, ``synchronous=FULL`` so that a
signature recorded by :meth:`NodeStore.record_own_signature` is on disk before the signer
releases it. Every call is a short synchronous statement (sub-millisecond on this machine
kind), so components call it directly from the trio thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from oracle_node.errors import SlashingProtectionError
from oracle_node.store.sqlite import SqliteDatabase

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL,
    hash BLOB);
CREATE TABLE IF NOT EXISTS observed_roots (block INTEGER NOT NULL, chain INTEGER NOT NULL,
    final_root BLOB NOT NULL, l1_block INTEGER NOT NULL, PRIMARY KEY (block, chain));
CREATE TABLE IF NOT EXISTS verified (block INTEGER PRIMARY KEY, final_root BLOB NOT NULL,
    new_state_root BLOB NOT NULL, epoch INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (block INTEGER PRIMARY KEY, reason TEXT NOT NULL,
    detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS own_signatures (block INTEGER NOT NULL, epoch INTEGER NOT NULL,
    final_root BLOB NOT NULL, signature BLOB NOT NULL, PRIMARY KEY (block, epoch));
CREATE TABLE IF NOT EXISTS partials (block INTEGER NOT NULL, epoch INTEGER NOT NULL,
    member INTEGER NOT NULL, final_root BLOB NOT NULL, signature BLOB NOT NULL,
    PRIMARY KEY (block, epoch, member, final_root));
CREATE TABLE IF NOT EXISTS aggregates (block INTEGER NOT NULL, epoch INTEGER NOT NULL,
    final_root BLOB NOT NULL, signature BLOB NOT NULL, members TEXT NOT NULL,
    PRIMARY KEY (block, epoch));
CREATE TABLE IF NOT EXISTS submissions (chain INTEGER NOT NULL, block INTEGER NOT NULL,
    status TEXT NOT NULL, tx_hash BLOB, gas_used INTEGER, detail TEXT NOT NULL,
    PRIMARY KEY (chain, block));
CREATE TABLE IF NOT EXISTS evidence (block INTEGER NOT NULL, epoch INTEGER NOT NULL,
    member INTEGER NOT NULL, path TEXT NOT NULL, PRIMARY KEY (block, epoch, member));
"""


@dataclass(frozen=True)
class StoredPartial:
    """One verified partial signature as persisted."""

    block: int
    epoch: int
    member: int
    final_root: bytes
    signature: bytes


@dataclass(frozen=True)
class StoredAggregate:
    """One group signature as persisted."""

    block: int
    epoch: int
    final_root: bytes
    signature: bytes
    members: tuple[int, ...]


@dataclass(frozen=True)
class BlockRecord:
    """Everything the node persisted about one block (``oracle-node block N``)."""

    block: int
    observed: tuple[tuple[int, bytes, int], ...]
    """(chain, proved final_root, L1 block of the proof) per chain, latest observation."""
    verified: tuple[bytes, bytes, int] | None
    """(final_root, new_state_root, epoch) when the node re-derived the block."""
    rejected: tuple[str, str] | None
    """(reason, detail) when the node refused it."""
    own_signatures: tuple[tuple[int, bytes], ...]
    """(epoch, final_root) this node signed."""
    partials: tuple[tuple[int, int], ...]
    """(epoch, verified partials held)."""
    aggregates: tuple[StoredAggregate, ...]
    submissions: tuple[tuple[int, str, bytes | None, int | None, str], ...]
    """(chain, status, tx hash, gas used, detail)."""
    evidence: tuple[tuple[int, int, str], ...]
    """(epoch, member, evidence file)."""


class NodeStore:
    """Typed access to the node database (open with :meth:`open`, close with :meth:`close`)."""

    def __init__(self, db: SqliteDatabase) -> None:
        """Wrap an open database (use :meth:`open`)."""
        self._db = db

    @classmethod
    def open(cls, path: Path | str) -> NodeStore:
        """Open (creating if needed) the database at ``path``; ``":memory:"`` for tests.

        Raises :class:`StoreError` when the file is unusable or has another schema version.
        """
        return cls(SqliteDatabase.open(path, schema=_SCHEMA, name="node database",
                                       schema_version=SCHEMA_VERSION))

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    # -- observed and verified roots -----------------------------------------------------
    def record_observed_root(self, block: int, chain: int, final_root: bytes,
                             l1_block: int) -> None:
        """Remember a chain's proved root for a block (latest observation wins)."""
        with self._db.transaction() as c:
            c.execute("INSERT OR REPLACE INTO observed_roots VALUES (?, ?, ?, ?)",
                      (block, chain, final_root, l1_block))

    def record_verified(self, block: int, final_root: bytes, new_state_root: bytes,
                        epoch: int) -> None:
        """Remember a block the node re-derived (its root is the next block's prior syncHash)."""
        with self._db.transaction() as c:
            c.execute("INSERT OR REPLACE INTO verified VALUES (?, ?, ?, ?)",
                      (block, final_root, new_state_root, epoch))

    def verified(self, block: int) -> tuple[bytes, bytes] | None:
        """(final_root, new_state_root) of a verified block, or None."""
        row = self._db.one("SELECT final_root, new_state_root FROM verified WHERE block=?",
                           (block,))
        return None if row is None else (bytes(row[0]), bytes(row[1]))

    def last_verified_block(self) -> int:
        """The highest verified block number (0 when none)."""
        row = self._db.one("SELECT MAX(block) FROM verified", ())
        return 0 if row is None or row[0] is None else int(str(row[0]))

    def record_rejected(self, block: int, reason: str, detail: str) -> bool:
        """Remember a refusal; returns False when the block was already rejected."""
        with self._db.transaction() as c:
            cur = c.execute("INSERT OR IGNORE INTO rejected VALUES (?, ?, ?)",
                            (block, reason, detail))
            return cur.rowcount == 1

    def rejected(self, block: int) -> str | None:
        """The refusal reason recorded for a block, if any."""
        row = self._db.one("SELECT reason FROM rejected WHERE block=?", (block,))
        return None if row is None else str(row[0])

    # -- slashing protection ------------------------------------------------------------
    def record_own_signature(self, block: int, epoch: int, final_root: bytes,
                             signature: bytes) -> bytes:
        """Atomically check and record this node's signature for (block, epoch).

        Returns the signature to release: the stored one when the same root was signed
        before. Raises :class:`SlashingProtectionError` when a different root was signed.
        """
        with self._db.transaction() as c:
            row = c.execute("SELECT final_root, signature FROM own_signatures "
                            "WHERE block=? AND epoch=?", (block, epoch)).fetchone()
            if row is not None:
                if bytes(row[0]) != final_root:
                    raise SlashingProtectionError(
                        f"block {block} epoch {epoch} already signed for root "
                        f"0x{bytes(row[0]).hex()}, refusing 0x{final_root.hex()}")
                return bytes(row[1])
            c.execute("INSERT INTO own_signatures VALUES (?, ?, ?, ?)",
                      (block, epoch, final_root, signature))
            return signature

    def own_signature(self, block: int, epoch: int) -> tuple[bytes, bytes] | None:
        """(final_root, signature) this node signed for (block, epoch), if any."""
        row = self._db.one("SELECT final_root, signature FROM own_signatures "
                           "WHERE block=? AND epoch=?", (block, epoch))
        return None if row is None else (bytes(row[0]), bytes(row[1]))

    def own_signature_count(self) -> int:
        """How many (block, epoch) pairs this node has signed."""
        row = self._db.one("SELECT COUNT(*) FROM own_signatures", ())
        return 0 if row is None else int(str(row[0]))

    # -- partials, aggregates, submissions, evidence -----------------------------------
    def add_partial(self, p: StoredPartial) -> bool:
        """Store a verified partial; False when it was already stored."""
        with self._db.transaction() as c:
            cur = c.execute("INSERT OR IGNORE INTO partials VALUES (?, ?, ?, ?, ?)",
                            (p.block, p.epoch, p.member, p.final_root, p.signature))
            return cur.rowcount == 1

    def partials(self, block: int, epoch: int) -> list[StoredPartial]:
        """Every stored partial for (block, epoch)."""
        rows = self._db.all("SELECT block, epoch, member, final_root, signature FROM partials "
                            "WHERE block=? AND epoch=? ORDER BY member", (block, epoch))
        return [StoredPartial(int(str(r[0])), int(str(r[1])), int(str(r[2])),
                              bytes(r[3]), bytes(r[4])) for r in rows]

    def record_aggregate(self, a: StoredAggregate) -> None:
        """Persist a group signature (first one per (block, epoch) wins)."""
        with self._db.transaction() as c:
            c.execute("INSERT OR IGNORE INTO aggregates VALUES (?, ?, ?, ?, ?)",
                      (a.block, a.epoch, a.final_root, a.signature,
                       ",".join(str(m) for m in a.members)))

    def aggregates_since(self, block: int) -> list[StoredAggregate]:
        """Group signatures for blocks >= ``block`` in block order (restart re-scheduling)."""
        return self._aggregates("block>=?", block)

    def _aggregates(self, where: str, block: int) -> list[StoredAggregate]:
        rows = self._db.all("SELECT block, epoch, final_root, signature, members "
                            f"FROM aggregates WHERE {where} ORDER BY block, epoch", (block,))
        return [StoredAggregate(int(str(r[0])), int(str(r[1])), bytes(r[2]),
                                bytes(r[3]),
                                tuple(int(x) for x in str(r[4]).split(",") if x))
                for r in rows]

    def record_submission(self, chain: int, block: int, status: str, tx_hash: bytes | None,
                          gas_used: int | None, detail: str) -> None:
        """Persist the latest confirmation outcome for (chain, block)."""
        with self._db.transaction() as c:
            c.execute("INSERT OR REPLACE INTO submissions VALUES (?, ?, ?, ?, ?, ?)",
                      (chain, block, status, tx_hash, gas_used, detail))

    def submission_status(self, chain: int, block: int) -> str | None:
        """The latest confirmation outcome for (chain, block), if any."""
        row = self._db.one("SELECT status FROM submissions WHERE chain=? AND block=?",
                           (chain, block))
        return None if row is None else str(row[0])

    def last_confirmed(self) -> dict[int, int]:
        """Per chain, the highest block known confirmed (by us or another member)."""
        rows = self._db.all("SELECT chain, MAX(block) FROM submissions WHERE status IN "
                            "('confirmed', 'already_confirmed') GROUP BY chain", ())
        return {int(str(r[0])): int(str(r[1])) for r in rows}

    def record_evidence(self, block: int, epoch: int, member: int, path: str) -> bool:
        """Index an evidence file; False when evidence for (block, epoch, member) exists."""
        with self._db.transaction() as c:
            cur = c.execute("INSERT OR IGNORE INTO evidence VALUES (?, ?, ?, ?)",
                            (block, epoch, member, path))
            return cur.rowcount == 1

    def block_record(self, block: int) -> BlockRecord:
        """Every row about ``block``, for the operator's ``oracle-node block`` command."""
        db, arg = self._db, (block,)
        verified = db.one("SELECT final_root, new_state_root, epoch FROM verified "
                          "WHERE block=?", arg)
        rejected = db.one("SELECT reason, detail FROM rejected WHERE block=?", arg)
        return BlockRecord(
            block=block,
            observed=tuple((int(str(r[0])), bytes(r[1]), int(str(r[2]))) for r in db.all(
                "SELECT chain, final_root, l1_block FROM observed_roots WHERE block=? "
                "ORDER BY chain", arg)),
            verified=None if verified is None else (bytes(verified[0]), bytes(verified[1]),
                                                    int(str(verified[2]))),
            rejected=None if rejected is None else (str(rejected[0]), str(rejected[1])),
            own_signatures=tuple((int(str(r[0])), bytes(r[1])) for r in db.all(
                "SELECT epoch, final_root FROM own_signatures WHERE block=? ORDER BY epoch",
                arg)),
            partials=tuple((int(str(r[0])), int(str(r[1]))) for r in db.all(
                "SELECT epoch, COUNT(*) FROM partials WHERE block=? GROUP BY epoch "
                "ORDER BY epoch", arg)),
            # only this block's rows, not every later block's (an old block on a long run)
            aggregates=tuple(self._aggregates("block=?", block)),
            submissions=tuple(
                (int(str(r[0])), str(r[1]), None if r[2] is None else bytes(r[2]),
                 None if r[3] is None else int(str(r[3])), str(r[4])) for r in db.all(
                    "SELECT chain, status, tx_hash, gas_used, detail FROM submissions "
                    "WHERE block=? ORDER BY chain", arg)),
            evidence=tuple((int(str(r[0])), int(str(r[1])), str(r[2])) for r in db.all(
                "SELECT epoch, member, path FROM evidence WHERE block=? ORDER BY member",
                arg)))

    def evidence(self) -> list[tuple[int, int, int, str]]:
        """Every (block, epoch, member, path) evidence record."""
        return [(int(str(r[0])), int(str(r[1])), int(str(r[2])), str(r[3]))
                for r in self._db.all("SELECT block, epoch, member, path FROM evidence "
                                      "ORDER BY block, member", ())]
