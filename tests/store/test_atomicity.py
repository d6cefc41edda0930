"""commit_enrollment is all-or-nothing, checked through an independent connection
(SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.store.conftest import RawQuery
from tests.store.records import COLLECTION, block, subject
from vault.errors import AlreadyExists, StorageError
from vault.store import TemplateStore as Store


def _snapshot(raw: RawQuery) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    blocks = raw("SELECT * FROM blocks ORDER BY collection, block_no")
    subjects = raw("SELECT * FROM subjects ORDER BY collection, subject_id")
    return blocks, subjects


@pytest.fixture
def enrolled(store: Store) -> Store:
    """The store with alice and bob enrolled in block 0."""
    store.commit_enrollment(
        COLLECTION,
        [block(0, next_slot=2, live=2)],
        [subject("alice", 0, 0), subject("bob", 0, 1)],
    )
    return store


def test_one_clashing_id_changes_nothing(enrolled: Store, raw: RawQuery) -> None:
    """A batch with one already-enrolled id leaves blocks and subjects untouched."""
    before = _snapshot(raw)
    with pytest.raises(AlreadyExists) as info:
        enrolled.commit_enrollment(
            COLLECTION,
            [block(0, next_slot=4, live=4), block(1)],
            [subject("carol", 0, 2), subject("alice", 0, 3), subject("dave", 1, 0)],
        )
    assert "1 of 3" in str(info.value)
    assert "'alice'" in str(info.value)
    assert _snapshot(raw) == before


def test_clash_message_counts_all_but_names_only_the_first(enrolled: Store) -> None:
    """With several clashes the error gives the count and only the first id in batch order."""
    with pytest.raises(AlreadyExists) as info:
        enrolled.commit_enrollment(
            COLLECTION,
            [block(1, next_slot=3, live=3)],
            [subject("erin", 1, 0), subject("bob", 1, 1), subject("alice", 1, 2)],
        )
    message = str(info.value)
    assert "2 of 3" in message
    assert "'bob'" in message
    assert "alice" not in message
    assert "erin" not in message


def test_failure_after_writes_rolls_back(enrolled: Store, raw: RawQuery) -> None:
    """A constraint failure after the block upsert ran rolls the upsert back too."""
    before = _snapshot(raw)
    with pytest.raises(StorageError):
        # Slot 1 of block 0 already belongs to bob: the subject insert fails
        # after the block rows were written inside the transaction.
        enrolled.commit_enrollment(
            COLLECTION, [block(0, next_slot=3, live=3), block(1)], [subject("carol", 0, 1)]
        )
    assert _snapshot(raw) == before


def test_subject_in_missing_block_is_refused(store: Store, raw: RawQuery) -> None:
    """Foreign keys are on: a subject cannot point at a block that does not exist."""
    with pytest.raises(StorageError, match=r"(?i)foreign key"):
        store.commit_enrollment(COLLECTION, [block(0)], [subject("alice", 3, 0)])
    assert _snapshot(raw) == ([], [])


def test_store_stays_usable_after_a_failed_commit(enrolled: Store) -> None:
    """A rolled-back transaction does not leave the shared connection inside one."""
    with pytest.raises(AlreadyExists):
        enrolled.commit_enrollment(COLLECTION, [], [subject("alice", 0, 5)])
    enrolled.commit_enrollment(COLLECTION, [block(1)], [subject("carol", 1, 0)])
    assert enrolled.count_subjects(COLLECTION) == 3
