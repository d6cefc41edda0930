"""The embedded default TemplateStore, on the standard library's sqlite3.

WAL with synchronous=FULL so acknowledged writes survive power loss; secure_delete
so freed pages are zeroed; a TRUNCATE checkpoint after every erasure so the WAL
keeps no copy of an erased block either.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

from vault.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from vault.store._sqlite_db import SqliteDatabase
from vault.store._sqlite_keys import SqliteKeyData
from vault.store._sqlite_rows import (
    BLOCK_COLUMNS,
    COLLECTION_COLUMNS,
    SUBJECT_COLUMNS,
    UPDATE_BLOCK,
    UPDATE_COLLECTION,
    UPSERT_BLOCK,
    block_row,
    collection_record,
    collection_row,
    existing_ids,
    require_collection,
    subject_row,
)
from vault.store.base import BlockRecord, CollectionRecord, SubjectRecord, TemplateStore

__all__ = ["SqliteTemplateStore"]


class SqliteTemplateStore(SqliteKeyData, TemplateStore):
    """TemplateStore kept in one SQLite file (plus its -wal and -shm companions).

    The file is created 0600, missing parent directories 0700. Thread-safe.

    Args:
        path: The database file.
        read_only: Open an existing store without write access (inspection and
            offline tools); every write then raises StorageError.

    Raises:
        StorageError: The file cannot be created or opened, or is not a store
            this build understands.
    """

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self._db = SqliteDatabase(Path(path), read_only=read_only)

    @property
    def path(self) -> Path:
        """The database file."""
        return self._db.path

    # --- collections -----------------------------------------------------------
    def create_collection(self, record: CollectionRecord) -> None:
        with self._db.transaction("create collection") as conn:
            try:
                conn.execute(
                    f"INSERT INTO collections ({COLLECTION_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    collection_row(record),
                )
            except sqlite3.IntegrityError as e:
                raise AlreadyExists(f"collection {record.name!r} already exists") from e

    def update_collection(self, record: CollectionRecord) -> None:
        """Replace the stored settings of an existing collection (same name).

        Raises:
            NotFound: No collection has that name.
        """
        row = collection_row(record)
        with self._db.transaction("update collection") as conn:
            cursor = conn.execute(UPDATE_COLLECTION, (*row[1:], row[0]))
            if cursor.rowcount == 0:
                raise NotFound(f"collection {record.name!r} does not exist")

    def get_collection(self, name: str) -> CollectionRecord | None:
        with self._db.reading("read collection") as conn:
            row = conn.execute(
                f"SELECT {COLLECTION_COLUMNS} FROM collections WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else collection_record(row)

    def list_collections(self) -> list[CollectionRecord]:
        with self._db.reading("list collections") as conn:
            rows = conn.execute(
                f"SELECT {COLLECTION_COLUMNS} FROM collections ORDER BY name"
            ).fetchall()
        return [collection_record(row) for row in rows]

    # --- subjects --------------------------------------------------------------
    def count_subjects(self, collection: str) -> int:
        with self._db.reading("count subjects") as conn:
            row = conn.execute(
                "SELECT count(*) FROM subjects WHERE collection = ?", (collection,)
            ).fetchone()
        return int(row[0])

    def get_subject(self, collection: str, subject_id: str) -> SubjectRecord | None:
        with self._db.reading("read subject") as conn:
            row = conn.execute(
                f"SELECT {SUBJECT_COLUMNS} FROM subjects WHERE collection = ? AND subject_id = ?",
                (collection, subject_id),
            ).fetchone()
        return None if row is None else SubjectRecord(*row)

    def list_subjects(self, collection: str) -> list[SubjectRecord]:
        with self._db.reading("list subjects") as conn:
            rows = conn.execute(
                f"SELECT {SUBJECT_COLUMNS} FROM subjects WHERE collection = ? "
                "ORDER BY block_no, slot",
                (collection,),
            ).fetchall()
        return [SubjectRecord(*row) for row in rows]

    def existing_subject_ids(self, collection: str, subject_ids: Sequence[str]) -> set[str]:
        with self._db.reading("look up subjects") as conn:
            return existing_ids(conn, collection, subject_ids)

    # --- blocks ----------------------------------------------------------------
    def iter_blocks(self, collection: str) -> Iterator[BlockRecord]:
        """Blocks of a collection in block_no order, fetched one at a time.

        Memory stays at one block however large the gallery. This is not a
        snapshot: a block written meanwhile is seen in its newest state, and one
        dropped before the iterator reaches it is skipped.
        """
        after = -1
        while True:
            with self._db.reading("read blocks") as conn:
                row = conn.execute(
                    f"SELECT {BLOCK_COLUMNS} FROM blocks WHERE collection = ? AND block_no > ? "
                    "ORDER BY block_no LIMIT 1",
                    (collection, after),
                ).fetchone()
            if row is None:
                return
            block = BlockRecord(*row)
            after = block.block_no
            yield block

    def get_block(self, collection: str, block_no: int) -> BlockRecord | None:
        with self._db.reading("read block") as conn:
            row = conn.execute(
                f"SELECT {BLOCK_COLUMNS} FROM blocks WHERE collection = ? AND block_no = ?",
                (collection, block_no),
            ).fetchone()
        return None if row is None else BlockRecord(*row)

    def count_blocks(self, collection: str) -> int:
        """Number of stored blocks of a collection (0 if it is unknown)."""
        with self._db.reading("count blocks") as conn:
            row = conn.execute(
                "SELECT count(*) FROM blocks WHERE collection = ?", (collection,)
            ).fetchone()
        return int(row[0])

    # --- atomic changes --------------------------------------------------------
    def commit_enrollment(
        self, collection: str, blocks: Sequence[BlockRecord], subjects: Sequence[SubjectRecord]
    ) -> None:
        """Upsert the changed blocks and insert the new subjects in one transaction.

        Raises:
            InvalidArgument: A record belongs to another collection, or an id
                appears twice in ``subjects``.
            NotFound: The collection does not exist.
            AlreadyExists: Some subject ids are already enrolled; the message says
                how many and names only the first. Nothing is changed.
        """
        if any(b.collection != collection for b in blocks) or any(
            s.collection != collection for s in subjects
        ):
            raise InvalidArgument("enrollment records must all belong to the named collection")
        ids = [s.subject_id for s in subjects]
        if len(set(ids)) != len(ids):
            raise InvalidArgument("an enrollment names the same subject id more than once")
        with self._db.transaction("commit enrollment") as conn:
            require_collection(conn, collection)
            taken = existing_ids(conn, collection, ids)
            if taken:
                first = next(i for i in ids if i in taken)
                raise AlreadyExists(
                    f"{len(taken)} of {len(ids)} subject ids are already enrolled in "
                    f"collection {collection!r} (first: {first!r})"
                )
            conn.executemany(UPSERT_BLOCK, [block_row(b) for b in blocks])
            conn.executemany(
                f"INSERT INTO subjects ({SUBJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                [subject_row(s) for s in subjects],
            )

    def commit_erasure(
        self,
        collection: str,
        subject_id: str,
        *,
        replacement: BlockRecord | None,
        drop_block: int | None,
    ) -> None:
        """Remove a subject and rewrite or drop its block, then purge the WAL.

        Raises:
            InvalidArgument: Not exactly one of ``replacement`` / ``drop_block``
                is given, or it does not name the subject's own block.
            NotFound: The subject is not enrolled in the collection.
            FailedPrecondition: ``drop_block`` still holds other live subjects.
            StorageError: The write failed (nothing changed), or it committed but
                the WAL could not be emptied because another process is reading.
        """
        self.commit_erasures(
            collection, [subject_id], replacement=replacement, drop_block=drop_block
        )

    def commit_erasures(
        self,
        collection: str,
        subject_ids: Sequence[str],
        *,
        replacement: BlockRecord | None,
        drop_block: int | None,
    ) -> None:
        """Several subjects of one block in one transaction and one WAL purge
        (same checks and errors as :meth:`commit_erasure`, for every subject)."""
        if (replacement is None) == (drop_block is None):
            raise InvalidArgument("an erasure needs exactly one of replacement or drop_block")
        if replacement is not None and replacement.collection != collection:
            raise InvalidArgument("the replacement block belongs to another collection")
        target = replacement.block_no if replacement is not None else drop_block
        with self._db.transaction("commit erasure") as conn:
            for subject_id in subject_ids:
                row = conn.execute(
                    "SELECT block_no FROM subjects WHERE collection = ? AND subject_id = ?",
                    (collection, subject_id),
                ).fetchone()
                if row is None:
                    raise NotFound(f"subject is not enrolled in collection {collection!r}")
                if row[0] != target:
                    raise InvalidArgument("an erasure must rewrite or drop the subject's own block")
                conn.execute(
                    "DELETE FROM subjects WHERE collection = ? AND subject_id = ?",
                    (collection, subject_id),
                )
            if replacement is not None:
                conn.execute(UPDATE_BLOCK, (*block_row(replacement)[2:], collection, target))
            else:
                others = conn.execute(
                    "SELECT count(*) FROM subjects WHERE collection = ? AND block_no = ?",
                    (collection, target),
                ).fetchone()[0]
                if others:
                    raise FailedPrecondition(
                        f"block {target} still holds {others} live subjects and cannot be dropped"
                    )
                conn.execute(
                    "DELETE FROM blocks WHERE collection = ? AND block_no = ?",
                    (collection, target),
                )
        self._db.truncate_wal("purge erased data from the WAL")

    # --- small metadata --------------------------------------------------------
    def get_meta(self, key: str) -> bytes | None:
        with self._db.reading("read metadata") as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def put_meta(self, key: str, value: bytes, *, overwrite: bool = False) -> None:
        """Write a metadata value.

        Raises:
            AlreadyExists: ``key`` exists and ``overwrite`` is false.
        """
        with self._db.transaction("write metadata") as conn:
            if overwrite:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, bytes(value)),
                )
                return
            try:
                conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, bytes(value)))
            except sqlite3.IntegrityError as e:
                raise AlreadyExists(f"metadata key {key!r} already exists") from e

    def list_meta_keys(self, prefix: str = "") -> list[str]:
        """Metadata keys starting with ``prefix``, sorted."""
        with self._db.reading("list metadata") as conn:
            rows = conn.execute(
                "SELECT key FROM meta WHERE substr(key, 1, length(?)) = ? ORDER BY key",
                (prefix, prefix),
            ).fetchall()
        return [str(row[0]) for row in rows]

    # --- lifecycle -------------------------------------------------------------
    def close(self) -> None:
        """Checkpoint the WAL into the database file and close. Idempotent."""
        self._db.close()

    def __enter__(self) -> SqliteTemplateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
