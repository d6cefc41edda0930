"""Private row mapping of the SQLite store: record <-> row tuples and id lookups."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from vault.errors import NotFound
from vault.store.base import BlockRecord, CollectionRecord, SubjectRecord

__all__ = [
    "BLOCK_COLUMNS",
    "COLLECTION_COLUMNS",
    "SUBJECT_COLUMNS",
    "UPDATE_BLOCK",
    "UPDATE_COLLECTION",
    "UPSERT_BLOCK",
    "block_row",
    "collection_record",
    "collection_row",
    "existing_ids",
    "require_collection",
    "subject_row",
]

COLLECTION_COLUMNS = (
    "name, mode, dim, params_id, allow_identification, purposes, match_threshold, "
    "created_at, key_version, config_json"
)
BLOCK_COLUMNS = "collection, block_no, blob, next_slot, live, encryptions"
SUBJECT_COLUMNS = "collection, subject_id, block_no, slot, key_version, enrolled_at"

# Parameters: collection_row() without the name, then the name.
UPDATE_COLLECTION = (
    "UPDATE collections SET mode = ?, dim = ?, params_id = ?, allow_identification = ?, "
    "purposes = ?, match_threshold = ?, created_at = ?, key_version = ?, config_json = ? "
    "WHERE name = ?"
)
# Parameters: block_row().
UPSERT_BLOCK = (
    f"INSERT INTO blocks ({BLOCK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (collection, block_no) DO UPDATE SET blob = excluded.blob, "
    "next_slot = excluded.next_slot, live = excluded.live, encryptions = excluded.encryptions"
)
# Parameters: block_row() without collection and block_no, then those two.
UPDATE_BLOCK = (
    "UPDATE blocks SET blob = ?, next_slot = ?, live = ?, encryptions = ? "
    "WHERE collection = ? AND block_no = ?"
)

# Comfortably below every SQLite build's host-parameter limit (999 before 3.32).
_ID_CHUNK = 500


def require_collection(conn: sqlite3.Connection, collection: str) -> None:
    """Raise NotFound unless the collection exists."""
    if conn.execute("SELECT 1 FROM collections WHERE name = ?", (collection,)).fetchone() is None:
        raise NotFound(f"collection {collection!r} does not exist")


def existing_ids(conn: sqlite3.Connection, collection: str, ids: Sequence[str]) -> set[str]:
    """The subset of ``ids`` enrolled in ``collection``."""
    found: set[str] = set()
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = list(ids[start : start + _ID_CHUNK])
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT subject_id FROM subjects WHERE collection = ? AND subject_id IN ({marks})",
            (collection, *chunk),
        ).fetchall()
        found.update(str(row[0]) for row in rows)
    return found


def collection_row(record: CollectionRecord) -> tuple[Any, ...]:
    """Column values of a collection, in COLLECTION_COLUMNS order."""
    return (
        record.name,
        record.mode,
        record.dim,
        record.params_id,
        int(record.allow_identification),
        json.dumps(list(record.purposes)),
        record.match_threshold,
        record.created_at,
        record.key_version,
        record.config_json,
    )


def collection_record(row: Sequence[Any]) -> CollectionRecord:
    """Inverse of collection_row."""
    name, mode, dim, params_id, allow, purposes, threshold, created, key_version, config = row
    return CollectionRecord(
        name=name,
        mode=mode,
        dim=dim,
        params_id=params_id,
        allow_identification=bool(allow),
        purposes=tuple(json.loads(purposes)),
        match_threshold=threshold,
        created_at=created,
        key_version=key_version,
        config_json=config,
    )


def block_row(block: BlockRecord) -> tuple[Any, ...]:
    """Column values of a block, in BLOCK_COLUMNS order."""
    # bytes() so a memoryview or bytearray is stored as a BLOB, never as text.
    return (
        block.collection,
        block.block_no,
        bytes(block.blob),
        block.next_slot,
        block.live,
        block.encryptions,
    )


def subject_row(subject: SubjectRecord) -> tuple[Any, ...]:
    """Column values of a subject, in SUBJECT_COLUMNS order."""
    return (
        subject.collection,
        subject.subject_id,
        subject.block_no,
        subject.slot,
        subject.key_version,
        subject.enrolled_at,
    )
