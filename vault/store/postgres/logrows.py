"""The audit log's rows in the PostgreSQL store's database (tables ``audit_entries``
and ``audit_meta``), for :class:`vault.audit.log.MerkleAuditLog`.

They share the store's connection, so a backup of the database holds templates,
keys and log together, and - the point of it - the entries of an enrolment or
erasure are inserted in the same transaction as the store change they record
(:meth:`PostgresLogRows.transaction`, joined by the core through
``MerkleAuditLog.transaction``): the commit and its entries succeed or fail
together, where the SQLite log needs the core's write-ahead and reconcile
protocol (vault/core/ledger.py).

Several writers (front-ends) may append to the one log: every write transaction
first takes a transaction-scoped advisory lock on the log, and the Merkle log then
reads the entries the others appended meanwhile before numbering its own, so the
sequence stays gap-free and every checkpoint extends the previous one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from vault.audit.rows import LogRows
from vault.errors import AlreadyExists
from vault.store.postgres._db import LOCK_NAMESPACE
from vault.store.postgres.store import PostgresTemplateStore

__all__ = ["PostgresLogRows"]

#: Second key of the advisory lock that orders appends to the log ('audt').
_AUDIT_LOCK = 0x61756474


class PostgresLogRows(LogRows):
    """Audit rows of the vault whose templates ``store`` holds."""

    def __init__(self, store: PostgresTemplateStore) -> None:
        #: The store whose connection (and so whose transactions) the rows share.
        self.store = store
        self._db = store._db

    @property
    def name(self) -> str:
        return f"PostgreSQL {self._db.where}"

    def get_meta(self, key: str) -> str | None:
        with self._db.reading("read audit metadata") as conn:
            row = conn.execute("SELECT value FROM audit_meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_meta(self, key: str, value: str) -> None:
        with self._db.transaction("write audit metadata") as conn:
            cursor = conn.execute(
                "INSERT INTO audit_meta (key, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (key, value),
            )
            if cursor.rowcount == 0:
                raise AlreadyExists(f"audit metadata {key!r} already exists")

    def transaction(self) -> AbstractContextManager[None]:
        return self._locked()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # Inside a store transaction on the same connection this joins it; the
        # lock is held until that outermost transaction ends.
        with self._db.transaction("lock the audit log", join=True) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, _AUDIT_LOCK))
            yield

    def append(self, seq: int, entry: bytes, checkpoint: str) -> None:
        self.append_many([(seq, entry, checkpoint)])

    def append_many(self, rows: list[tuple[int, bytes, str]]) -> None:
        with (
            self._db.transaction("append audit entries", join=True) as conn,
            conn.cursor() as cursor,
        ):
            cursor.executemany(
                "INSERT INTO audit_entries (seq, entry, checkpoint) VALUES (%s, %s, %s)",
                [(seq, bytes(entry), note) for seq, entry, note in rows],
            )

    def count(self) -> int:
        with self._db.reading("count audit entries") as conn:
            row = conn.execute("SELECT count(*) FROM audit_entries").fetchone()
        return int(row[0]) if row else 0

    def batch(self, start: int, limit: int) -> list[tuple[int, bytes, str]]:
        with self._db.reading("read audit entries") as conn:
            rows = conn.execute(
                "SELECT seq, entry, checkpoint FROM audit_entries WHERE seq >= %s "
                "ORDER BY seq LIMIT %s",
                (start, limit),
            ).fetchall()
        return [(int(seq), bytes(entry), str(note)) for seq, entry, note in rows]

    def row(self, seq: int) -> tuple[bytes, str] | None:
        with self._db.reading("read audit entry") as conn:
            found = conn.execute(
                "SELECT entry, checkpoint FROM audit_entries WHERE seq = %s", (seq,)
            ).fetchone()
        return None if found is None else (bytes(found[0]), str(found[1]))

    def close(self) -> None:
        """Nothing to do: the connection is the store's, closed with it."""
