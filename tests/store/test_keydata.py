"""The compare-and-swap operations key rotation relies on, on a real SQLite file."""

from __future__ import annotations

import struct

from tests.store.records import COLLECTION, block, subject
from vault.store import TemplateStore as Store
from vault.store.base import SecretRow

_OFFSET = 8  # where the blob header keeps its little-endian u32 key version


def _blob(version: int, size: int = 64) -> bytes:
    return b"BVLT\x01\x01\x01\x00" + struct.pack("<I", version) + b"\x01\x00\x00\x00" + bytes(size)


def test_replace_meta_swaps_only_the_expected_value(store: Store) -> None:
    """A stale expected value leaves the stored one untouched."""
    store.put_meta("dek/faces/00000001", b"vault:v1:old")
    assert not store.replace_meta("dek/faces/00000001", b"vault:v1:other", b"vault:v2:new")
    assert store.get_meta("dek/faces/00000001") == b"vault:v1:old"
    assert store.replace_meta("dek/faces/00000001", b"vault:v1:old", b"vault:v2:new")
    assert store.get_meta("dek/faces/00000001") == b"vault:v2:new"
    assert not store.replace_meta("absent", b"", b"x")
    store.delete_meta("dek/faces/00000001")
    store.delete_meta("dek/faces/00000001")
    assert store.get_meta("dek/faces/00000001") is None


def test_block_headers_read_only_the_front_of_each_blob(store: Store) -> None:
    """Headers come back per block, in order, cut to the requested size."""
    store.commit_enrollment(
        COLLECTION,
        [block(1, _blob(2, 1 << 20)), block(0, _blob(1))],
        [subject("a", 0), subject("b", 1)],
    )
    headers = store.block_headers(COLLECTION, 12)
    assert [(no, len(h)) for no, h in headers] == [(0, 12), (1, 12)]
    assert [struct.unpack_from("<I", h, _OFFSET)[0] for _, h in headers] == [1, 2]
    assert store.block_headers("nobody", 12) == []


def test_replace_block_blob_is_a_compare_and_swap(store: Store) -> None:
    """A block rewritten meanwhile (e.g. by an erasure) is not overwritten."""
    old = _blob(1)
    store.commit_enrollment(COLLECTION, [block(0, old, live=2, next_slot=2)], [subject("a")])
    assert store.replace_block_blob(COLLECTION, 0, old, _blob(2))
    assert not store.replace_block_blob(COLLECTION, 0, old, _blob(3))
    stored = store.get_block(COLLECTION, 0)
    assert stored is not None and stored.blob == _blob(2) and stored.live == 2
    assert not store.replace_block_blob(COLLECTION, 7, old, _blob(2))


def test_retiring_a_key_version_checks_blocks_in_the_same_transaction(
    store: Store,
) -> None:
    """A data key is deleted only once no block names its version."""
    store.put_secret(SecretRow("data-key", COLLECTION, 1, 0, b"vault:v1:k1"))
    store.commit_enrollment(COLLECTION, [block(0, _blob(1)), block(1, _blob(2))], [subject("a")])
    assert not store.delete_secret_if_no_block_uses("data-key", COLLECTION, 1, 1, _OFFSET)
    stored = store.get_secret("data-key", COLLECTION, 1)
    assert stored is not None and stored.value == b"vault:v1:k1"
    assert store.replace_block_blob(COLLECTION, 0, _blob(1), _blob(2))
    assert store.delete_secret_if_no_block_uses("data-key", COLLECTION, 1, 1, _OFFSET)
    assert store.get_secret("data-key", COLLECTION, 1) is None
    assert store.list_secrets("data-key") == []
