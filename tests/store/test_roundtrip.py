"""Round trips through every TemplateStore method of the SQLite store."""

from __future__ import annotations

import os

import pytest

from tests.store.records import COLLECTION, block, collection_record, subject
from vault.errors import AlreadyExists, InvalidArgument, NotFound
from vault.store import TemplateStore as Store


def test_collection_round_trip(store: Store) -> None:
    """A created collection reads back field for field."""
    assert store.get_collection(COLLECTION) == collection_record()


def test_collection_with_identification_and_no_purposes(store: Store) -> None:
    """Booleans and empty tuples survive the trip through SQLite types."""
    record = collection_record("open", allow_identification=True, purposes=(), mode="hybrid")
    store.create_collection(record)
    assert store.get_collection("open") == record


def test_unknown_collection_is_none(store: Store) -> None:
    """Reading a collection that was never created gives None."""
    assert store.get_collection("nope") is None


def test_list_collections_sorted_by_name(store: Store) -> None:
    """Collections are listed in name order."""
    store.create_collection(collection_record("b"))
    store.create_collection(collection_record("a"))
    assert [c.name for c in store.list_collections()] == ["a", "b", COLLECTION]


def test_duplicate_collection_raises(store: Store) -> None:
    """Creating a collection twice raises AlreadyExists."""
    with pytest.raises(AlreadyExists, match=COLLECTION):
        store.create_collection(collection_record(dim=128))
    assert store.get_collection(COLLECTION) == collection_record()


def test_update_collection(store: Store) -> None:
    """update_collection replaces every setting of an existing collection."""
    changed = collection_record(key_version=2, match_threshold=0.4, purposes=("x",))
    store.update_collection(changed)
    assert store.get_collection(COLLECTION) == changed


def test_update_unknown_collection_raises(store: Store) -> None:
    """update_collection on an unknown name raises NotFound."""
    with pytest.raises(NotFound):
        store.update_collection(collection_record("ghost"))


def test_enrollment_round_trip(store: Store) -> None:
    """Blocks and subjects committed together read back through every getter."""
    blocks = [block(0, next_slot=2, live=2), block(1)]
    subjects = [subject("alice", 0, 0), subject("bob", 0, 1), subject("carol", 1, 0)]
    store.commit_enrollment(COLLECTION, blocks, subjects)

    assert list(store.iter_blocks(COLLECTION)) == blocks
    assert store.get_block(COLLECTION, 1) == blocks[1]
    assert store.get_block(COLLECTION, 7) is None
    assert store.count_blocks(COLLECTION) == 2
    assert store.count_subjects(COLLECTION) == 3
    assert store.get_subject(COLLECTION, "bob") == subjects[1]
    assert store.get_subject(COLLECTION, "dave") is None
    assert store.list_subjects(COLLECTION) == subjects
    assert store.existing_subject_ids(COLLECTION, ["dave", "carol", "alice"]) == {
        "alice",
        "carol",
    }


def test_enrollment_upserts_an_existing_block(store: Store) -> None:
    """A second enrollment into a partly filled block overwrites its row."""
    store.commit_enrollment(COLLECTION, [block(0)], [subject("alice", 0, 0)])
    grown = block(0, next_slot=2, live=2)
    store.commit_enrollment(COLLECTION, [grown], [subject("bob", 0, 1)])
    assert store.get_block(COLLECTION, 0) == grown
    assert store.count_blocks(COLLECTION) == 1


def test_blocks_are_iterated_in_block_order(store: Store) -> None:
    """iter_blocks yields block_no order whatever the insertion order."""
    store.commit_enrollment(COLLECTION, [block(n) for n in (5, 0, 3)], [])
    assert [b.block_no for b in store.iter_blocks(COLLECTION)] == [0, 3, 5]


def test_blob_bytes_are_stored_verbatim(store: Store) -> None:
    """Opaque blobs (including NULs and a memoryview source) come back byte-identical."""
    payload = b"\x00" * 17 + os.urandom(70_000)
    record = block(0, payload)
    store.commit_enrollment(COLLECTION, [record], [])
    stored = store.get_block(COLLECTION, 0)
    assert stored is not None
    assert type(stored.blob) is bytes
    assert stored.blob == payload


def test_existing_ids_handles_large_batches(store: Store) -> None:
    """Id lookups larger than SQLite's parameter limit are chunked correctly."""
    ids = [f"id-{i}" for i in range(1_500)]
    subjects = [subject(i, 0, n) for n, i in enumerate(ids)]
    store.commit_enrollment(COLLECTION, [block(0, next_slot=1500, live=1500)], subjects)
    probe = [*ids[::7], "unknown-1", "unknown-2"]
    assert store.existing_subject_ids(COLLECTION, probe) == set(ids[::7])


def test_unknown_collection_reads_are_empty(store: Store) -> None:
    """Counts and listings of an unknown collection are zero and empty."""
    assert store.count_subjects("ghost") == 0
    assert store.count_blocks("ghost") == 0
    assert store.list_subjects("ghost") == []
    assert list(store.iter_blocks("ghost")) == []
    assert store.existing_subject_ids("ghost", ["a"]) == set()


def test_enrollment_into_unknown_collection_raises(store: Store) -> None:
    """commit_enrollment names a collection that must exist."""
    with pytest.raises(NotFound):
        store.commit_enrollment(
            "ghost", [block(0, collection="ghost")], [subject("a", collection="ghost")]
        )


def test_enrollment_rejects_foreign_records(store: Store) -> None:
    """Records whose collection differs from the argument are refused."""
    with pytest.raises(InvalidArgument):
        store.commit_enrollment(COLLECTION, [block(0, collection="other")], [])
    with pytest.raises(InvalidArgument):
        store.commit_enrollment(COLLECTION, [block(0)], [subject("a", collection="other")])
    assert store.count_blocks(COLLECTION) == 0


def test_enrollment_rejects_repeated_ids(store: Store) -> None:
    """One enrollment cannot name the same subject twice."""
    with pytest.raises(InvalidArgument):
        store.commit_enrollment(
            COLLECTION, [block(0, next_slot=2, live=2)], [subject("a", 0, 0), subject("a", 0, 1)]
        )


def test_meta_round_trip(store: Store) -> None:
    """put_meta then get_meta returns the same bytes; unknown keys give None."""
    store.put_meta("dek/ckks", b"\x00wrapped\xff")
    assert store.get_meta("dek/ckks") == b"\x00wrapped\xff"
    assert store.get_meta("dek/other") is None


def test_meta_refuses_overwrite_by_default(store: Store) -> None:
    """An existing key raises AlreadyExists and keeps its value unless overwrite is set."""
    store.put_meta("k", b"one")
    with pytest.raises(AlreadyExists, match="'k'"):
        store.put_meta("k", b"two")
    assert store.get_meta("k") == b"one"
    store.put_meta("k", b"three", overwrite=True)
    assert store.get_meta("k") == b"three"


def test_meta_overwrite_creates_missing_key(store: Store) -> None:
    """overwrite=True also works for a key that does not exist yet."""
    store.put_meta("fresh", b"v", overwrite=True)
    assert store.get_meta("fresh") == b"v"


def test_list_meta_keys_by_prefix(store: Store) -> None:
    """list_meta_keys filters literally by prefix (no LIKE wildcards) and sorts."""
    for key in ("dek/b", "dek/a", "dek_x", "seed/a", "de%k"):
        store.put_meta(key, b"")
    assert store.list_meta_keys("dek/") == ["dek/a", "dek/b"]
    assert store.list_meta_keys("de%") == ["de%k"]
    assert store.list_meta_keys() == sorted(["dek/b", "dek/a", "dek_x", "seed/a", "de%k"])
