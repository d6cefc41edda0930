"""The audit log's rows in the PostgreSQL store's database (tables ``audit_entries``
and ``audit_meta``), for :class:`vault.audit.log.MerkleAuditLog`.

They share the store's connection, so a backup of the database holds templates,
keys and log together, and the single-writer lock covers the log too. Each append
is its own committed transaction, written before the store change it records
(the core's write-ahead and reconcile protocol, vault/core/ledger.py), exactly as
with the SQLite log file.
"""

from __future__ import annotations

from vault.audit.rows import LogRows
from vault.errors import AlreadyExists
from vault.store.postgres.store import PostgresTemplateStore

__all__ = ["PostgresLogRows"]


class PostgresLogRows(LogRows):
    """Audit rows of the vault whose templates ``store`` holds."""

    def __init__(self, store: PostgresTemplateStore) -> None:
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

    def append(self, seq: int, entry: bytes, checkpoint: str) -> None:
        self.append_many([(seq, entry, checkpoint)])

    def append_many(self, rows: list[tuple[int, bytes, str]]) -> None:
        with self._db.transaction("append audit entries") as conn, conn.cursor() as cursor:
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
