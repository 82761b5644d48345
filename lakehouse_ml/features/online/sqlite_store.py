"""Embedded online store: one SQLite file per feature table, no server to run.

Each file holds `rows(key, row)` (encoded key -> encoded row) and a one-row `meta` with the
published snapshot. A publish is one transaction and a lookup reads in one transaction, so a
reader sees the old or the new snapshot, never a mix.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path

from lakehouse_ml.features.online.codec import Snapshot, snapshot_from_text

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, row TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 0), snapshot TEXT NOT NULL);
"""
_UPSERT_DIFFERING = ("INSERT INTO rows VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                     "SET row = excluded.row WHERE row IS NOT excluded.row")
"""Inserts a new key, replaces a stored key's row only if its text differs: the statement's
change count is then the number of keys written."""
_BATCH = 500
"""Keys per `IN (...)` query, below SQLite's limit on bound parameters."""

# Keys are written and looked up in key order (the `rows` table's B-tree order: SQLite compares
# TEXT bytewise, which is Python's str order for UTF-8): each statement then reaches the pages
# the previous one left in SQLite's page cache. In a random order every key costs a descent
# from the root through uncached pages. Measured on the 95,280-key engagement store at 50,000
# customers (sqlite 3.40): an upsert of every key 0.48 CPU-s sorted against 1.95 unsorted, a
# read of every key in IN batches 0.27 against 0.71. The sort is stable on the key alone, so a
# key given twice still ends with its last row.


class SQLiteStore:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._connections: dict[str, sqlite3.Connection] = {}
        self._lock = threading.RLock()
        """One connection per table is shared by threads; transactions on it are serialized."""

    def path(self, table: str) -> Path:
        return self.directory / f"{table}.sqlite"

    def _connection(self, table: str) -> sqlite3.Connection:
        connection = self._connections.get(table)
        if connection is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self.path(table), check_same_thread=False, isolation_level=None
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA)
            self._connections[table] = connection
        return connection

    def _snapshot(self, connection: sqlite3.Connection) -> Snapshot | None:
        found = connection.execute("SELECT snapshot FROM meta").fetchone()
        return snapshot_from_text(found[0]) if found else None

    def snapshot(self, table: str) -> Snapshot | None:
        with self._lock:
            return self._snapshot(self._connection(table))

    @contextmanager
    def _publishing(self, table: str) -> Iterator[sqlite3.Connection]:
        """One write transaction on the table's file (rolled back if the body raises)."""
        with self._lock:
            connection = self._connection(table)
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def write(
        self, table: str, snapshot: Snapshot, keys: Sequence[str], rows: Sequence[str],
        deleted: Sequence[str], *, replace: bool,
    ) -> None:
        with self._publishing(table) as connection:
            if replace:
                connection.execute("DELETE FROM rows")
            connection.executemany("DELETE FROM rows WHERE key = ?",
                                   ((k,) for k in sorted(deleted)))
            connection.executemany("INSERT OR REPLACE INTO rows VALUES (?, ?)",
                                   sorted(zip(keys, rows, strict=True), key=itemgetter(0)))
            connection.execute("INSERT OR REPLACE INTO meta VALUES (0, ?)", (snapshot.to_text(),))

    def update(
        self, table: str, held: Snapshot, snapshot: Snapshot, keys: Sequence[str],
        rows: Sequence[str], gone: Sequence[str],
    ) -> tuple[int, int] | None:
        """`OnlineStore.update` in one transaction: the upsert replaces a key's row only where
        its text differs, and SQLite counts the rows each statement changed, so nothing is
        read back into Python."""
        pairs = sorted(zip(keys, rows, strict=True), key=itemgetter(0))
        with self._publishing(table) as connection:
            if self._snapshot(connection) != held:
                return None  # another publication replaced it: nothing written
            start = connection.total_changes
            connection.executemany("DELETE FROM rows WHERE key = ?",
                                   ((k,) for k in sorted(gone)))
            deleted = connection.total_changes - start
            connection.executemany(_UPSERT_DIFFERING, pairs)
            written = connection.total_changes - start - deleted
            connection.execute("INSERT OR REPLACE INTO meta VALUES (0, ?)", (snapshot.to_text(),))
        return written, deleted

    def read(self, table: str, keys: Sequence[str]) -> tuple[Snapshot | None, list[str | None]]:
        if len(keys) <= _BATCH:  # one statement is one read transaction: 1 call, not 4
            marks = ",".join("?" * len(keys))
            query = (f"SELECT NULL, snapshot FROM meta UNION ALL "
                     f"SELECT key, row FROM rows WHERE key IN ({marks})")
            with self._lock:
                rows = self._connection(table).execute(query, keys).fetchall()
            texts = [text for key, text in rows if key is None]
            found = {key: text for key, text in rows if key is not None}
            snapshot = snapshot_from_text(texts[0]) if texts else None
            return snapshot, [found.get(k) for k in keys]
        found = {}
        ordered = sorted(set(keys))
        with self._lock:
            connection = self._connection(table)
            connection.execute("BEGIN")
            try:
                snapshot = self._snapshot(connection)
                for start in range(0, len(ordered), _BATCH):
                    batch = ordered[start : start + _BATCH]
                    marks = ",".join("?" * len(batch))
                    query = f"SELECT key, row FROM rows WHERE key IN ({marks})"
                    found.update(connection.execute(query, batch))
            finally:
                connection.execute("COMMIT")
        return snapshot, [found.get(k) for k in keys]

    def close(self) -> None:
        with self._lock:
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()
