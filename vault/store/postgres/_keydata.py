"""Private part of the PostgreSQL store: the key catalog's secrets, small metadata,
and the compare-and-swap operations key rotation uses.

Mixed into :class:`~vault.store.postgres.store.PostgresTemplateStore`; relies on
its ``_db``. Block headers are read with ``substring`` on the out-of-line
(EXTERNAL) blob column, so PostgreSQL fetches only the first chunk of each blob.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import psycopg

from vault.errors import AlreadyExists
from vault.store.base import SecretRow
from vault.store.keydata import KeyDataStore
from vault.store.postgres._db import PgDatabase

__all__ = ["PgKeyData"]

_U32 = struct.Struct("<I")
_SECRET_COLUMNS = "kind, owner, slot, version, value"
_SECRET_KEY = "kind = %s AND owner = %s AND slot = %s"


def _secret(row: Sequence[Any]) -> SecretRow:
    kind, owner, slot, version, value = row
    return SecretRow(str(kind), str(owner), int(slot), int(version), bytes(value))


def _headers(conn: psycopg.Connection, collection: str, size: int) -> list[tuple[int, bytes]]:
    rows = conn.execute(
        "SELECT block_no, substring(blob FROM 1 FOR %s) FROM blocks WHERE collection = %s "
        "ORDER BY block_no",
        (size, collection),
    ).fetchall()
    return [(int(no), bytes(head)) for no, head in rows]


class PgKeyData(KeyDataStore):
    """Secrets, metadata and :class:`KeyDataStore` over the store's connection."""

    _db: PgDatabase

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
                f"SELECT {_SECRET_COLUMNS} FROM secrets WHERE (%s::text IS NULL OR kind = %s) "
                'AND (%s::text IS NULL OR owner = %s) ORDER BY kind COLLATE "C", '
                'owner COLLATE "C", slot',
                (kind, kind, owner, owner),
            ).fetchall()
        return [_secret(row) for row in rows]

    def put_secret(self, row: SecretRow) -> None:
        """Insert a new secret.

        Raises:
            AlreadyExists: A secret of that kind, owner and slot is stored.
        """
        with self._db.transaction("write secret") as conn:
            cursor = conn.execute(
                f"INSERT INTO secrets ({_SECRET_COLUMNS}) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (row.kind, row.owner, row.slot, row.version, bytes(row.value)),
            )
            if cursor.rowcount == 0:
                raise AlreadyExists(
                    f"a {row.kind} of {row.owner!r} (slot {row.slot}) is already stored"
                )

    def replace_secret(self, row: SecretRow, expected: bytes) -> bool:
        with self._db.transaction("replace secret") as conn:
            cursor = conn.execute(
                f"UPDATE secrets SET version = %s, value = %s WHERE {_SECRET_KEY} AND value = %s",
                (row.version, bytes(row.value), row.kind, row.owner, row.slot, bytes(expected)),
            )
            return cursor.rowcount == 1

    def delete_secret(self, kind: str, owner: str, slot: int) -> None:
        with self._db.transaction("delete secret") as conn:
            conn.execute(f"DELETE FROM secrets WHERE {_SECRET_KEY}", (kind, owner, slot))

    # --- small metadata --------------------------------------------------------
    def get_meta(self, key: str) -> bytes | None:
        with self._db.reading("read metadata") as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def put_meta(self, key: str, value: bytes, *, overwrite: bool = False) -> None:
        """Write a metadata value.

        Raises:
            AlreadyExists: ``key`` exists and ``overwrite`` is false.
        """
        with self._db.transaction("write metadata") as conn:
            if overwrite:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (%s, %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, bytes(value)),
                )
                return
            cursor = conn.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (key, bytes(value)),
            )
            if cursor.rowcount == 0:
                raise AlreadyExists(f"metadata key {key!r} already exists")

    def list_meta_keys(self, prefix: str = "") -> list[str]:
        """Metadata keys starting with ``prefix`` (literally, no wildcards), sorted."""
        with self._db.reading("list metadata") as conn:
            rows = conn.execute(
                'SELECT key FROM meta WHERE left(key, length(%s)) = %s ORDER BY key COLLATE "C"',
                (prefix, prefix),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def replace_meta(self, key: str, expected: bytes, new: bytes) -> bool:
        """Set ``key`` to ``new`` only if it still holds ``expected``."""
        with self._db.transaction("replace metadata") as conn:
            cursor = conn.execute(
                "UPDATE meta SET value = %s WHERE key = %s AND value = %s",
                (bytes(new), key, bytes(expected)),
            )
            return cursor.rowcount == 1

    def delete_meta(self, key: str) -> None:
        """Remove a metadata value if present."""
        with self._db.transaction("delete metadata") as conn:
            conn.execute("DELETE FROM meta WHERE key = %s", (key,))

    # --- rotation --------------------------------------------------------------
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
                "UPDATE blocks SET blob = %s WHERE collection = %s AND block_no = %s AND blob = %s",
                (bytes(new), collection, block_no, bytes(expected)),
            )
            return cursor.rowcount == 1

    def delete_secret_if_no_block_uses(
        self, kind: str, owner: str, slot: int, key_version: int, header_offset: int
    ) -> bool:
        """Delete the secret in the same transaction that checks no block names the version."""
        end = header_offset + _U32.size
        with self._db.transaction("retire data key") as conn:
            # SHARE mode: no block of any collection is written until the commit,
            # so none can start naming the version between the check and the delete.
            conn.execute("LOCK TABLE blocks IN SHARE MODE")
            for _, header in _headers(conn, owner, end):
                if len(header) >= end and _U32.unpack_from(header, header_offset)[0] == key_version:
                    return False
            conn.execute(f"DELETE FROM secrets WHERE {_SECRET_KEY}", (kind, owner, slot))
            return True
