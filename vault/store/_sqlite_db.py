"""Private connection holder of the SQLite store: one connection, one lock,
explicit transactions, and every sqlite3 error translated on the way out."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vault.errors import StorageError
from vault.store._sqlite_setup import open_connection, storage_error

__all__ = ["SqliteDatabase"]


class SqliteDatabase:
    """A store file opened once and shared by every thread of the process."""

    def __init__(self, path: Path, *, read_only: bool) -> None:
        self.path = path
        self.read_only = read_only
        # One connection behind one lock rather than one per thread: gRPC worker
        # threads come and go (per-thread connections would leak with them),
        # SQLite admits one writer at a time anyway, and the post-erasure
        # TRUNCATE checkpoint can only empty the WAL when no other connection
        # holds a read snapshot - with a single connection, none of ours does.
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = open_connection(path, read_only=read_only)

    @contextmanager
    def reading(self, action: str) -> Iterator[sqlite3.Connection]:
        """Hold the connection for a read; sqlite3 errors become StorageError."""
        with self._lock:
            conn = self._connection()
            try:
                yield conn
            except sqlite3.Error as e:
                raise storage_error(action, self.path, e) from e

    @contextmanager
    def transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        """Run the body in BEGIN IMMEDIATE ... COMMIT; roll back on any exception."""
        with self._lock:
            conn = self._connection()
            try:
                # IMMEDIATE takes the write lock up front, so a transaction never
                # fails half-way for want of it after it has read.
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    _rollback(conn)
                    raise
            except sqlite3.Error as e:
                raise storage_error(action, self.path, e) from e

    def truncate_wal(self, action: str) -> None:
        """Copy the WAL into the database file and cut the WAL to zero bytes.

        Raises:
            StorageError: Another process holds a read snapshot, so the WAL
                could not be emptied.
        """
        with self.reading(action) as conn:
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            raise StorageError(
                f"template store {self.path}: the change is committed, but another process "
                "is reading the database, so the WAL still holds old data; it is purged at "
                "the next erasure or on close"
            )

    def close(self) -> None:
        """Empty the WAL into the database file and close. Idempotent."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            try:
                if not self.read_only:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as e:
                raise storage_error("checkpoint on close", self.path, e) from e
            finally:
                conn.close()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError(f"template store {self.path} is closed")
        return self._conn


def _rollback(conn: sqlite3.Connection) -> None:
    if not conn.in_transaction:
        return  # SQLite already rolled back by itself (e.g. after SQLITE_FULL)
    # The error that got us here is the informative one; a failed ROLLBACK is
    # completed by SQLite when the connection closes.
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")
