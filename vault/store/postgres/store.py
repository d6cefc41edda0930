"""The TemplateStore on PostgreSQL (psycopg 3): the same guarantees as SQLite, shared.

One transaction per atomic change (READ COMMITTED; every multi-row change runs
inside one ``BEGIN ... COMMIT``), subjects written with ``COPY``, blocks with a
pipelined ``executemany``. Erasure rewrites or deletes the block row in the same
transaction as the subject row; what PostgreSQL keeps of the old row version
afterwards (until VACUUM, in WAL and in backups) is described by
:attr:`PostgresTemplateStore.erasure_residue` and docs/operations.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql

from vault.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from vault.store.base import BlockRecord, CollectionRecord, SubjectRecord, TemplateStore
from vault.store.postgres._db import PgDatabase, describe_url
from vault.store.postgres._keydata import PgKeyData
from vault.store.postgres._prefetch import prefetched
from vault.store.postgres._schema import ensure_schema

__all__ = ["PostgresTemplateStore"]

_COLLECTION_COLUMNS = (
    "name, mode, dim, params_id, allow_identification, purposes, match_threshold, "
    "created_at, key_version, config_json"
)
_BLOCK_COLUMNS = "collection, block_no, blob, next_slot, live, encryptions"
_SUBJECT_COLUMNS = "collection, subject_id, block_no, slot, key_version, enrolled_at"
_UPSERT_BLOCK = (
    f"INSERT INTO blocks ({_BLOCK_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (collection, block_no) DO UPDATE SET blob = excluded.blob, "
    "next_slot = excluded.next_slot, live = excluded.live, encryptions = excluded.encryptions"
)
_UPDATE_BLOCK = (
    "UPDATE blocks SET blob = %s, next_slot = %s, live = %s, encryptions = %s "
    "WHERE collection = %s AND block_no = %s"
)
#: What an erasure leaves behind in PostgreSQL, recorded in every erasure's audit
#: entry (so in its receipt): the old row version is only unreachable, not gone.
ERASURE_RESIDUE = "postgresql-old-row-version-until-vacuum"


def _collection_row(record: CollectionRecord) -> tuple[Any, ...]:
    return (
        record.name, record.mode, record.dim, record.params_id,
        bool(record.allow_identification), json.dumps(list(record.purposes)),
        record.match_threshold, record.created_at, record.key_version, record.config_json,
    )  # fmt: skip


def _collection_record(row: Sequence[Any]) -> CollectionRecord:
    name, mode, dim, params_id, allow, purposes, threshold, created, key_version, config = row
    return CollectionRecord(
        name=name, mode=mode, dim=dim, params_id=params_id, allow_identification=bool(allow),
        purposes=tuple(json.loads(purposes)), match_threshold=threshold, created_at=created,
        key_version=key_version, config_json=config,
    )  # fmt: skip


def _block(row: Sequence[Any]) -> BlockRecord:
    collection, block_no, blob, next_slot, live, encryptions = row
    return BlockRecord(collection, block_no, bytes(blob), next_slot, live, encryptions)


def _block_row(block: BlockRecord) -> tuple[Any, ...]:
    return (block.collection, block.block_no, bytes(block.blob), block.next_slot, block.live,
            block.encryptions)  # fmt: skip


def _bump(conn: psycopg.Connection, collection: str) -> None:
    """Count a change of ``collection`` in the same transaction as the change."""
    conn.execute(
        "UPDATE collections SET generation = generation + 1 WHERE name = %s", (collection,)
    )


def _existing(conn: psycopg.Connection, collection: str, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    rows = conn.execute(
        "SELECT subject_id FROM subjects WHERE collection = %s AND subject_id = ANY(%s)",
        (collection, list(ids)),
    ).fetchall()
    return {str(row[0]) for row in rows}


class PostgresTemplateStore(PgKeyData, TemplateStore):
    """TemplateStore in one PostgreSQL database. Thread-safe.

    Args:
        url: ``postgresql://USER@HOST:PORT/DB[?sslmode=...]``, handed to libpq as it is.
        password: The role's password (from a file); None lets libpq find it
            (``PGPASSWORD``, ``PGPASSFILE``, ``~/.pgpass``).
        read_only: Inspect without writing (fsck); the schema must be current.
        writer: Hold the single-writer advisory lock for as long as the store is
            open (a serving process): a second writer is refused at start-up.
        namespace: A PostgreSQL schema to keep the tables in (created if missing)
            instead of the role's default search path (the bench uses a scratch one).

    Raises:
        ConfigurationError: Another writer holds the store, the schema is newer
            than this build, or the URL is unusable.
        StorageUnavailable: The database cannot be reached.
    """

    erasure_residue: str | None = ERASURE_RESIDUE

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        read_only: bool = False,
        writer: bool = False,
        namespace: str | None = None,
    ) -> None:
        where = describe_url(url)
        self._namespace = namespace

        def prepare(conn: psycopg.Connection) -> None:
            if namespace is not None:  # created (if missing) by ensure_schema
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(namespace)))
            ensure_schema(conn, where, read_only=read_only, namespace=namespace)

        self._db = PgDatabase(
            url, password=password, read_only=read_only, writer=writer, on_connect=prepare
        )

    @property
    def where(self) -> str:
        """``host:port/db`` of the database (for messages)."""
        return self._db.where

    def holds_audit_rows(self, rows: object) -> bool:
        return getattr(rows, "store", None) is self

    # --- collections -----------------------------------------------------------
    def create_collection(self, record: CollectionRecord) -> None:
        with self._db.transaction("create collection") as conn:
            cursor = conn.execute(
                f"INSERT INTO collections ({_COLLECTION_COLUMNS}) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO NOTHING",
                _collection_row(record),
            )
            if cursor.rowcount == 0:
                raise AlreadyExists(f"collection {record.name!r} already exists")

    def update_collection(self, record: CollectionRecord) -> None:
        """Replace the stored settings of an existing collection (same name).

        Raises:
            NotFound: No collection has that name.
        """
        row = _collection_row(record)
        with self._db.transaction("update collection") as conn:
            cursor = conn.execute(
                "UPDATE collections SET mode = %s, dim = %s, params_id = %s, "
                "allow_identification = %s, purposes = %s, match_threshold = %s, "
                "created_at = %s, key_version = %s, config_json = %s WHERE name = %s",
                (*row[1:], row[0]),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"collection {record.name!r} does not exist")
            _bump(conn, record.name)

    def get_collection(self, name: str) -> CollectionRecord | None:
        with self._db.reading("read collection") as conn:
            row = conn.execute(
                f"SELECT {_COLLECTION_COLUMNS} FROM collections WHERE name = %s", (name,)
            ).fetchone()
        return None if row is None else _collection_record(row)

    def list_collections(self) -> list[CollectionRecord]:
        with self._db.reading("list collections") as conn:
            rows = conn.execute(
                f'SELECT {_COLLECTION_COLUMNS} FROM collections ORDER BY name COLLATE "C"'
            ).fetchall()
        return [_collection_record(row) for row in rows]

    # --- subjects --------------------------------------------------------------
    def count_subjects(self, collection: str) -> int:
        with self._db.reading("count subjects") as conn:
            row = conn.execute(
                "SELECT count(*) FROM subjects WHERE collection = %s", (collection,)
            ).fetchone()
        return int(row[0]) if row else 0

    def get_subject(self, collection: str, subject_id: str) -> SubjectRecord | None:
        with self._db.reading("read subject") as conn:
            row = conn.execute(
                f"SELECT {_SUBJECT_COLUMNS} FROM subjects "
                "WHERE collection = %s AND subject_id = %s",
                (collection, subject_id),
            ).fetchone()
        return None if row is None else SubjectRecord(*row)

    def list_subjects(self, collection: str) -> list[SubjectRecord]:
        with self._db.reading("list subjects") as conn:
            rows = conn.execute(
                f"SELECT {_SUBJECT_COLUMNS} FROM subjects WHERE collection = %s "
                "ORDER BY block_no, slot",
                (collection,),
                binary=True,
            ).fetchall()
        return [SubjectRecord(*row) for row in rows]

    def existing_subject_ids(self, collection: str, subject_ids: Sequence[str]) -> set[str]:
        with self._db.reading("look up subjects") as conn:
            return _existing(conn, collection, subject_ids)

    # --- blocks ----------------------------------------------------------------
    def iter_blocks(self, collection: str) -> Iterator[BlockRecord]:
        """Blocks in block_no order, one round trip each.

        The next block is fetched by a helper thread while the caller works on
        the current one (start-up parses each block as it arrives), so memory
        stays at two blocks however large the gallery. Not a snapshot: a block
        written meanwhile is seen in its newest state, a dropped one skipped.
        """
        return prefetched(lambda after: self._block_after(collection, after))

    def _block_after(self, collection: str, after: int) -> BlockRecord | None:
        with self._db.reading("read blocks") as conn:
            row = conn.execute(
                f"SELECT {_BLOCK_COLUMNS} FROM blocks WHERE collection = %s "
                "AND block_no > %s ORDER BY block_no LIMIT 1",
                (collection, after),
                binary=True,
            ).fetchone()
        return None if row is None else _block(row)

    def get_block(self, collection: str, block_no: int) -> BlockRecord | None:
        with self._db.reading("read block") as conn:
            row = conn.execute(
                f"SELECT {_BLOCK_COLUMNS} FROM blocks WHERE collection = %s AND block_no = %s",
                (collection, block_no),
                binary=True,
            ).fetchone()
        return None if row is None else _block(row)

    def count_blocks(self, collection: str) -> int:
        """Number of stored blocks of a collection (0 if it is unknown)."""
        with self._db.reading("count blocks") as conn:
            row = conn.execute(
                "SELECT count(*) FROM blocks WHERE collection = %s", (collection,)
            ).fetchone()
        return int(row[0]) if row else 0

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
            found = conn.execute(
                "SELECT 1 FROM collections WHERE name = %s FOR SHARE", (collection,)
            ).fetchone()
            if found is None:
                raise NotFound(f"collection {collection!r} does not exist")
            taken = _existing(conn, collection, ids)
            if taken:
                first = next(i for i in ids if i in taken)
                raise AlreadyExists(
                    f"{len(taken)} of {len(ids)} subject ids are already enrolled in "
                    f"collection {collection!r} (first: {first!r})"
                )
            _bump(conn, collection)
            with conn.cursor() as cursor:
                if blocks:
                    cursor.executemany(_UPSERT_BLOCK, [_block_row(b) for b in blocks])
                if subjects:
                    with cursor.copy(f"COPY subjects ({_SUBJECT_COLUMNS}) FROM STDIN") as copy:
                        for s in subjects:
                            copy.write_row((s.collection, s.subject_id, s.block_no, s.slot,
                                            s.key_version, s.enrolled_at))  # fmt: skip

    def commit_erasure(
        self,
        collection: str,
        subject_id: str,
        *,
        replacement: BlockRecord | None,
        drop_block: int | None,
    ) -> None:
        """Remove a subject and rewrite or drop its block in one transaction.

        Raises:
            InvalidArgument: Not exactly one of ``replacement`` / ``drop_block``
                is given, or it does not name the subject's own block.
            NotFound: The subject is not enrolled in the collection.
            FailedPrecondition: ``drop_block`` still holds other live subjects.
            StorageError: The write failed; nothing changed.
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
        """Several subjects of one block in one transaction (checks as commit_erasure)."""
        if (replacement is None) == (drop_block is None):
            raise InvalidArgument("an erasure needs exactly one of replacement or drop_block")
        if replacement is not None and replacement.collection != collection:
            raise InvalidArgument("the replacement block belongs to another collection")
        target = replacement.block_no if replacement is not None else drop_block
        with self._db.transaction("commit erasure") as conn:
            rows = conn.execute(
                "SELECT subject_id, block_no FROM subjects WHERE collection = %s "
                "AND subject_id = ANY(%s) FOR UPDATE",
                (collection, list(subject_ids)),
            ).fetchall()
            found = {str(sid): no for sid, no in rows}
            for subject_id in subject_ids:
                if subject_id not in found:
                    raise NotFound(f"subject is not enrolled in collection {collection!r}")
                if found[subject_id] != target:
                    raise InvalidArgument("an erasure must rewrite or drop the subject's own block")
            conn.execute(
                "DELETE FROM subjects WHERE collection = %s AND subject_id = ANY(%s)",
                (collection, list(subject_ids)),
            )
            _bump(conn, collection)
            if replacement is not None:
                conn.execute(_UPDATE_BLOCK, (*_block_row(replacement)[2:], collection, target))
                return
            others = conn.execute(
                "SELECT count(*) FROM subjects WHERE collection = %s AND block_no = %s",
                (collection, target),
            ).fetchone()
            if others and others[0]:
                raise FailedPrecondition(
                    f"block {target} still holds {others[0]} live subjects and cannot be dropped"
                )
            # Overwrite, then delete. MVCC never rewrites a row in place: the old
            # version (and its out-of-line chunks) is only marked dead here and its
            # bytes stay in the files until VACUUM reuses the space (see purge()).
            conn.execute(
                "UPDATE blocks SET blob = ''::bytea WHERE collection = %s AND block_no = %s",
                (collection, target),
            )
            conn.execute(
                "DELETE FROM blocks WHERE collection = %s AND block_no = %s", (collection, target)
            )

    # --- several writers -------------------------------------------------------
    def collection_generation(self, collection: str) -> int | None:
        """How many changes ``collection`` has had (None: no such collection)."""
        with self._db.reading("read generation") as conn:
            row = conn.execute(
                "SELECT generation FROM collections WHERE name = %s", (collection,)
            ).fetchone()
        return None if row is None else int(row[0])

    def collection_lock(self, collection: str) -> AbstractContextManager[None]:
        """Exclude every other process's writes to ``collection`` while held
        (a transaction-scoped advisory lock on a session of its own)."""
        return self._db.collection_lock(collection)

    def block_bookkeeping(self, collection: str) -> dict[int, tuple[int, int, int]]:
        with self._db.reading("read block bookkeeping") as conn:
            rows = conn.execute(
                "SELECT block_no, next_slot, live, encryptions FROM blocks WHERE collection = %s",
                (collection,),
            ).fetchall()
        return {int(n): (int(a), int(b), int(c)) for n, a, b, c in rows}

    def subjects_in_blocks(self, collection: str, block_nos: Sequence[int]) -> list[SubjectRecord]:
        with self._db.reading("list subjects") as conn:
            rows = conn.execute(
                f"SELECT {_SUBJECT_COLUMNS} FROM subjects WHERE collection = %s "
                "AND block_no = ANY(%s) ORDER BY block_no, slot",
                (collection, list(block_nos)),
            ).fetchall()
        return [SubjectRecord(*row) for row in rows]

    def run_alone(self, task: str) -> AbstractContextManager[bool]:
        """Yields False while another process runs ``task`` (a try-lock held for the body)."""
        return self._db.try_task_lock(task)

    # --- lifecycle -------------------------------------------------------------
    def unsafe_drop_namespace(self) -> None:
        """Drop the store's own PostgreSQL schema and everything in it, then close
        (scratch stores of the bench only; refused without a namespace)."""
        if self._namespace is None:
            raise InvalidArgument("only a store opened with a namespace can be dropped")
        with self._db.transaction("drop scratch schema") as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(self._namespace)))
        self.close()

    def bytes_at_rest(self) -> int:
        """Bytes of the store's tables with their TOAST data and indexes (the schema
        first on the search path: the store's namespace, if it has one)."""
        with self._db.transaction("measure the store's size") as conn:
            row = conn.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relkind = 'r' AND n.nspname = current_schema()"
            ).fetchone()
        return int(row[0]) if row else 0

    def purge(self) -> None:
        """Make erased block versions unrecoverable from the live table files.

        ``VACUUM FULL`` rewrites the blocks table (and its TOAST table) into new
        files and unlinks the old ones. It takes an exclusive lock on the table
        for its duration; WAL segments and backups are not touched
        (docs/operations.md says what that means).
        """
        self._db.autocommit("vacuum erased blocks", "VACUUM FULL blocks")
        self._db.autocommit("vacuum erased blocks", "VACUUM FULL subjects")

    def close(self) -> None:
        """Close the connection (releasing the writer lock). Idempotent."""
        self._db.close()

    def __enter__(self) -> PostgresTemplateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
