"""Private part of the SQLite store: the key catalog's secrets and the
compare-and-swap operations key rotation uses.

Mixed into :class:`~vault.store.sqlite.SqliteTemplateStore`; relies on its
``_db`` (:class:`~vault.store._sqlite_db.SqliteDatabase`). Block headers are read
with SQLite's incremental blob I/O, so listing the key versions of a large
gallery reads a few bytes per block instead of whole 32 MiB blobs.
"""

from __future__ import annotations

import sqlite3
import struct

from vault.errors import AlreadyExists
from vault.store._sqlite_db import SqliteDatabase
from vault.store.base import SecretRow
from vault.store.keydata import KeyDataStore

__all__ = ["SqliteKeyData"]

_U32 = struct.Struct("<I")
_SECRET_COLUMNS = "kind, owner, slot, version, value"
_SECRET_KEY = "kind = ? AND owner = ? AND slot = ?"


def _secret(row: tuple[object, ...]) -> SecretRow:
    kind, owner, slot, version, value = row
    return SecretRow(str(kind), str(owner), int(slot), int(version), bytes(value))  # type: ignore[call-overload, arg-type]


def _headers(conn: sqlite3.Connection, collection: str, size: int) -> list[tuple[int, bytes]]:
    rows = conn.execute(
        "SELECT rowid, block_no FROM blocks WHERE collection = ? ORDER BY block_no",
        (collection,),
    ).fetchall()
    found = []
    for rowid, block_no in rows:
        with conn.blobopen("blocks", "blob", rowid, readonly=True) as blob:
            found.append((int(block_no), blob.read(size)))
    return found


class SqliteKeyData(KeyDataStore):
    """Implementation of :class:`KeyDataStore` over the store's single connection."""

    _db: SqliteDatabase

    # --- the key catalog's secrets -------------------------------------------
    def get_secret(self, kind: str, owner: str, slot: int) -> SecretRow | None:
        with self._db.reading("read secret") as conn:
            row = conn.execute(
                f"SELECT {_SECRET_COLUMNS} FROM secrets WHERE {_SECRET_KEY}", (kind, owner, slot)
            ).fetchone()
        return None if row is None else _secret(row)

    def list_secrets(self, kind: str | None = None, owner: str | None = None) -> list[SecretRow]:
        with self._db.reading("list secrets") as conn:
            rows = conn.execute(
                f"SELECT {_SECRET_COLUMNS} FROM secrets WHERE (? IS NULL OR kind = ?) "
                "AND (? IS NULL OR owner = ?) ORDER BY kind, owner, slot",
                (kind, kind, owner, owner),
            ).fetchall()
        return [_secret(row) for row in rows]

    def put_secret(self, row: SecretRow) -> None:
        """Insert a new secret.

        Raises:
            AlreadyExists: A secret of that kind, owner and slot is stored.
        """
        with self._db.transaction("write secret") as conn:
            try:
                conn.execute(
                    f"INSERT INTO secrets ({_SECRET_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                    (row.kind, row.owner, row.slot, row.version, bytes(row.value)),
                )
            except sqlite3.IntegrityError as e:
                raise AlreadyExists(
                    f"a {row.kind} of {row.owner!r} (slot {row.slot}) is already stored"
                ) from e

    def replace_secret(self, row: SecretRow, expected: bytes) -> bool:
        with self._db.transaction("replace secret") as conn:
            cursor = conn.execute(
                f"UPDATE secrets SET version = ?, value = ? WHERE {_SECRET_KEY} AND value = ?",
                (row.version, bytes(row.value), row.kind, row.owner, row.slot, bytes(expected)),
            )
            return cursor.rowcount == 1

    def delete_secret(self, kind: str, owner: str, slot: int) -> None:
        with self._db.transaction("delete secret") as conn:
            conn.execute(f"DELETE FROM secrets WHERE {_SECRET_KEY}", (kind, owner, slot))

    # --- rotation --------------------------------------------------------------

    def replace_meta(self, key: str, expected: bytes, new: bytes) -> bool:
        """Set ``key`` to ``new`` only if it still holds ``expected``."""
        with self._db.transaction("replace metadata") as conn:
            cursor = conn.execute(
                "UPDATE meta SET value = ? WHERE key = ? AND value = ?",
                (bytes(new), key, bytes(expected)),
            )
            return cursor.rowcount == 1

    def delete_meta(self, key: str) -> None:
        """Remove a metadata value if present."""
        with self._db.transaction("delete metadata") as conn:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))

    def block_headers(self, collection: str, size: int) -> list[tuple[int, bytes]]:
        """The first ``size`` bytes of every block of ``collection``, by block number."""
        with self._db.reading("read block headers") as conn:
            return _headers(conn, collection, size)

    def replace_block_blob(
        self, collection: str, block_no: int, expected: bytes, new: bytes
    ) -> bool:
        """Swap a block's blob if unchanged since it was read."""
        with self._db.transaction("replace block") as conn:
            cursor = conn.execute(
                "UPDATE blocks SET blob = ? WHERE collection = ? AND block_no = ? AND blob = ?",
                (bytes(new), collection, block_no, bytes(expected)),
            )
            return cursor.rowcount == 1

    def delete_secret_if_no_block_uses(
        self, kind: str, owner: str, slot: int, key_version: int, header_offset: int
    ) -> bool:
        """Delete the secret in the same transaction that checks no block names the version."""
        end = header_offset + _U32.size
        with self._db.transaction("retire data key") as conn:
            for _, header in _headers(conn, owner, end):
                if len(header) >= end and _U32.unpack_from(header, header_offset)[0] == key_version:
                    return False
            conn.execute(f"DELETE FROM secrets WHERE {_SECRET_KEY}", (kind, owner, slot))
            return True
