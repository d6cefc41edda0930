"""Record builders and raw-file helpers shared by the SQLite store tests."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from pathlib import Path
from typing import Any

from vault.store import BlockRecord, CollectionRecord, SubjectRecord

COLLECTION = "faces"


def collection_record(name: str = COLLECTION, **overrides: Any) -> CollectionRecord:
    """A plausible collection record; keyword overrides replace fields."""
    base = CollectionRecord(
        name=name,
        mode="ckks",
        dim=512,
        params_id=3,
        allow_identification=False,
        purposes=("border-control", "access"),
        match_threshold=0.3,
        created_at=1_700_000_000.25,
        key_version=1,
        config_json='{"block_size": 4}',
    )
    return dataclasses.replace(base, **overrides)


def block(
    block_no: int,
    blob: bytes | None = None,
    *,
    live: int = 1,
    next_slot: int = 1,
    collection: str = COLLECTION,
) -> BlockRecord:
    """A block with random (or given) opaque bytes."""
    return BlockRecord(
        collection=collection,
        block_no=block_no,
        blob=os.urandom(256) if blob is None else blob,
        next_slot=next_slot,
        live=live,
        encryptions=next_slot,
    )


def subject(
    subject_id: str, block_no: int = 0, slot: int = 0, *, collection: str = COLLECTION
) -> SubjectRecord:
    """A subject placed at (block_no, slot)."""
    return SubjectRecord(
        collection=collection,
        subject_id=subject_id,
        block_no=block_no,
        slot=slot,
        key_version=1,
        enrolled_at=1_700_000_100.5,
    )


def raw_rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Query the file through a fresh, independent read-only connection."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()
