"""Private SQLite file of the audit log: one row per entry with its checkpoint.

WAL with synchronous=FULL, so a committed row survives power loss; the file and
its directory are private (0600 / 0700). One connection behind the log's lock.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from vault.audit.rows import LogRows
from vault.errors import StorageError

__all__ = ["LogDatabase"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    seq        INTEGER PRIMARY KEY CHECK (seq >= 0),
    entry      BLOB NOT NULL,
    checkpoint TEXT NOT NULL
);
"""


class LogDatabase(LogRows):
    """Rows of the audit log. Callers serialise access (the log holds a lock).

    Args:
        path: The database file.
        create: Create the file if it is missing; otherwise a missing file is an
            error (a log that existed must not silently start over).

    Raises:
        StorageError: The file cannot be opened or created.
        FileNotFoundError: ``create`` is false and the file does not exist.
    """

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = Path(path)
        if not self.path.exists():
            if not create:
                raise FileNotFoundError(self.path)
            try:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except OSError as e:
                raise StorageError(f"audit log {self.path}: cannot create: {e.strerror}") from e
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as e:
            raise StorageError(f"audit log {self.path}: cannot open: {e}") from e

    @property
    def name(self) -> str:
        """The file's path."""
        return str(self.path)

    def get_meta(self, key: str) -> str | None:
        """A metadata value, or None."""
        row = self._execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_meta(self, key: str, value: str) -> None:
        """Insert a metadata value (never overwrites)."""
        self._execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))

    def append(self, seq: int, entry: bytes, checkpoint: str) -> None:
        """Insert one row and commit it durably."""
        self._execute(
            "INSERT INTO entries (seq, entry, checkpoint) VALUES (?, ?, ?)",
            (seq, entry, checkpoint),
        )

    def append_many(self, rows: list[tuple[int, bytes, str]]) -> None:
        """Insert rows (seq, entry, checkpoint) in one transaction: one durable commit."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT INTO entries (seq, entry, checkpoint) VALUES (?, ?, ?)", rows
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.Error as e:
            raise StorageError(f"audit log {self.path}: {e}") from e

    def count(self) -> int:
        """Number of rows."""
        return int(self._execute("SELECT count(*) FROM entries").fetchone()[0])

    def batch(self, start: int, limit: int) -> list[tuple[int, bytes, str]]:
        """Up to ``limit`` rows (seq, entry, checkpoint) from ``start`` on, in order."""
        found = self._execute(
            "SELECT seq, entry, checkpoint FROM entries WHERE seq >= ? ORDER BY seq LIMIT ?",
            (start, limit),
        ).fetchall()
        return [(int(seq), bytes(entry), str(checkpoint)) for seq, entry, checkpoint in found]

    def row(self, seq: int) -> tuple[bytes, str] | None:
        """(entry, checkpoint) of one row, or None."""
        found = self._execute(
            "SELECT entry, checkpoint FROM entries WHERE seq = ?", (seq,)
        ).fetchone()
        return None if found is None else (bytes(found[0]), str(found[1]))

    def close(self) -> None:
        """Checkpoint the WAL into the file and close."""
        # A failed checkpoint is harmless (the WAL is replayed on the next open);
        # closing must happen either way.
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()

    def _execute(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as e:
            raise StorageError(f"audit log {self.path}: {e}") from e
