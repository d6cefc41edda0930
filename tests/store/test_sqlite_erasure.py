"""commit_erasure removes the subject and leaves no copy of the old block bytes on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.store.records import COLLECTION, block, raw_rows, subject
from vault.errors import FailedPrecondition, InvalidArgument, NotFound
from vault.store import SqliteTemplateStore

_PATTERN_SIZE = 4096
Patterns = tuple[bytes, bytes, bytes]


@pytest.fixture
def store_backend() -> str:
    """These tests look at SQLite's own files."""
    return "sqlite"


def _files_containing(directory: Path, pattern: bytes) -> list[str]:
    """Names of files in ``directory`` holding any 32-byte window of ``pattern``."""
    windows = [pattern[i : i + 32] for i in range(0, len(pattern) - 31, 128)]
    hits = []
    for entry in sorted(directory.iterdir()):
        data = entry.read_bytes()
        if any(w in data for w in windows):
            hits.append(entry.name)
    return hits


@pytest.fixture
def patterns() -> Patterns:
    """Three distinctive random 4 KiB blobs."""
    return os.urandom(_PATTERN_SIZE), os.urandom(_PATTERN_SIZE), os.urandom(_PATTERN_SIZE)


@pytest.fixture
def enrolled(store: SqliteTemplateStore, patterns: Patterns) -> SqliteTemplateStore:
    """alice and bob share block 0 (first pattern); carol alone in block 1 (second)."""
    store.commit_enrollment(
        COLLECTION,
        [block(0, patterns[0], next_slot=2, live=2), block(1, patterns[1])],
        [subject("alice", 0, 0), subject("bob", 0, 1), subject("carol", 1, 0)],
    )
    return store


def test_scanner_sees_live_blobs(
    enrolled: SqliteTemplateStore, db_path: Path, patterns: Patterns
) -> None:
    """Sanity check of the scan: enrolled blobs are found in the store's files."""
    assert _files_containing(db_path.parent, patterns[0])
    assert _files_containing(db_path.parent, patterns[1])


def test_replacement_leaves_no_old_bytes(
    enrolled: SqliteTemplateStore, db_path: Path, patterns: Patterns
) -> None:
    """Overwriting a block erases its old bytes from the db, -wal and -shm files."""
    replacement = block(0, patterns[2], next_slot=2, live=1)
    enrolled.commit_erasure(COLLECTION, "alice", replacement=replacement, drop_block=None)

    assert enrolled.get_subject(COLLECTION, "alice") is None
    assert enrolled.get_block(COLLECTION, 0) == replacement
    assert enrolled.count_subjects(COLLECTION) == 2
    assert _files_containing(db_path.parent, patterns[0]) == []
    assert _files_containing(db_path.parent, patterns[2])


def test_dropped_block_leaves_no_old_bytes(
    enrolled: SqliteTemplateStore, db_path: Path, patterns: Patterns
) -> None:
    """Dropping a subject's last block erases its bytes from every file in the directory."""
    enrolled.commit_erasure(COLLECTION, "carol", replacement=None, drop_block=1)

    assert enrolled.get_block(COLLECTION, 1) is None
    assert enrolled.count_blocks(COLLECTION) == 1
    assert _files_containing(db_path.parent, patterns[1]) == []
    assert raw_rows(db_path, "SELECT subject_id FROM subjects ORDER BY 1") == [("alice",), ("bob",)]


def test_wal_is_empty_after_erasure(enrolled: SqliteTemplateStore, db_path: Path) -> None:
    """The TRUNCATE checkpoint after an erasure leaves a zero-length WAL."""
    wal = db_path.with_name(db_path.name + "-wal")
    assert wal.stat().st_size > 0
    enrolled.commit_erasure(COLLECTION, "carol", replacement=None, drop_block=1)
    assert wal.stat().st_size == 0


def test_superseded_versions_are_gone_after_erasure(
    store: SqliteTemplateStore, db_path: Path, patterns: Patterns
) -> None:
    """Older versions of a block rewritten by later enrollments are purged by an erasure too."""
    store.commit_enrollment(COLLECTION, [block(0, patterns[0])], [subject("alice", 0, 0)])
    store.commit_enrollment(
        COLLECTION, [block(0, patterns[1], next_slot=2, live=2)], [subject("bob", 0, 1)]
    )
    store.commit_erasure(
        COLLECTION, "bob", replacement=block(0, patterns[2], next_slot=2), drop_block=None
    )
    assert _files_containing(db_path.parent, patterns[0]) == []
    assert _files_containing(db_path.parent, patterns[1]) == []


@pytest.mark.parametrize(
    ("subject_id", "replacement_no", "drop_block", "error"),
    [
        ("nobody", 0, None, NotFound),
        ("alice", None, None, InvalidArgument),
        ("alice", 0, 0, InvalidArgument),
        ("alice", 1, None, InvalidArgument),
        ("carol", None, 0, InvalidArgument),
        ("alice", None, 0, FailedPrecondition),
    ],
)
def test_refused_erasures_change_nothing(
    enrolled: SqliteTemplateStore,
    db_path: Path,
    subject_id: str,
    replacement_no: int | None,
    drop_block: int | None,
    error: type[Exception],
) -> None:
    """Unknown subjects, ambiguous or foreign targets and busy blocks are refused untouched."""
    before = raw_rows(db_path, "SELECT * FROM blocks"), raw_rows(db_path, "SELECT * FROM subjects")
    replacement = None if replacement_no is None else block(replacement_no)
    with pytest.raises(error):
        enrolled.commit_erasure(
            COLLECTION, subject_id, replacement=replacement, drop_block=drop_block
        )
    after = raw_rows(db_path, "SELECT * FROM blocks"), raw_rows(db_path, "SELECT * FROM subjects")
    assert after == before


def test_replacement_from_another_collection_is_refused(enrolled: SqliteTemplateStore) -> None:
    """A replacement block must belong to the collection being erased from."""
    with pytest.raises(InvalidArgument):
        enrolled.commit_erasure(
            COLLECTION, "alice", replacement=block(0, collection="other"), drop_block=None
        )
    assert enrolled.get_subject(COLLECTION, "alice") is not None
