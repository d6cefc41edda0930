"""Two front-ends (two cores) on one PostgreSQL store: read-your-writes and writers
that take turns (vault/core/follow.py). Real PostgreSQL and TenSEAL; audit sinks
are local fakes (one per front-end)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from tests.core.conftest import MemoryAuditSink
from vault.core.vault import VaultCore
from vault.errors import AlreadyExists
from vault.he.keyset import CkksKeySet
from vault.keys.datakey import DataKey
from vault.store.postgres import PostgresTemplateStore
from vault.types import CollectionPolicy, CollectionSpec, ProtectionMode, RequestContext

DIM = 32
CTX = RequestContext(actor="station", purpose="access", consent_ref="c", legal_basis="consent")
SPEC = CollectionSpec(
    "faces", ProtectionMode.CKKS, DIM, True, ("access",), policy=CollectionPolicy(max_top_k=100)
)


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def fronts(pg_url: str, keyset: CkksKeySet) -> Iterator[tuple[VaultCore, VaultCore]]:
    key = DataKey._unsafe_from_material(os.urandom(32), "test")
    stores = [PostgresTemplateStore(pg_url) for _ in range(2)]
    cores = [
        VaultCore(
            store=s, keyset=keyset, audit=MemoryAuditSink(), pseudonym_key=key, follow_store=True
        )
        for s in stores
    ]
    yield cores[0], cores[1]
    for s in stores:
        s.close()


def _top(core: VaultCore, rows: np.ndarray) -> list[str]:
    return [m[0].subject_id if m else "" for m in core.identify("faces", rows, 1, CTX)]


def test_what_one_enrols_or_deletes_the_other_sees_next(fronts) -> None:
    """A creates and enrols; B's next Identify and Verify find it. B deletes; A's next
    Identify no longer finds it and its Verify does not match. Creation runs once."""
    a, b = fronts
    a.create_collection(SPEC, CTX)
    with pytest.raises(AlreadyExists):
        b.create_collection(SPEC, CTX)
    rows = _unit(np.random.default_rng(1).standard_normal((10, DIM)))
    assert a.enroll("faces", [f"s{i}" for i in range(10)], rows, CTX) == 10
    assert _top(b, rows) == [f"s{i}" for i in range(10)]
    assert b.verify("faces", "s3", rows[3:4], CTX).match
    assert b.delete("faces", "s5", CTX).erased == 1
    assert "s5" not in _top(a, rows)
    assert not a.verify("faces", "s5", rows[5:6], CTX).match
    assert _top(a, rows[:5]) == [f"s{i}" for i in range(5)]
    # A caught up with B's erasure by re-reading only the changed block (B found the
    # collection, created by A, on first use: a first load, not a catch-up).
    assert a._follower.reloads >= 1
    assert a._follower.whole_reloads == b._follower.whole_reloads == 0


def test_writers_take_turns_and_never_overwrite_each_others_slots(fronts) -> None:
    """A and B enrol into the same open block, in turn and then at once from threads:
    every template stays findable from both (an enrolment planned from a stale copy
    of the block would have wiped the other's templates)."""
    a, b = fronts
    a.create_collection(SPEC, CTX)
    rng = np.random.default_rng(2)
    batches = [(_unit(rng.standard_normal((20, DIM))), f"r{n}-") for n in range(6)]
    for n, (rows, prefix) in enumerate(batches[:2]):
        (a, b)[n % 2].enroll("faces", [f"{prefix}{i}" for i in range(20)], rows, CTX)

    def enrol(core: VaultCore, work: list[tuple[np.ndarray, str]]) -> None:
        for rows, prefix in work:
            core.enroll("faces", [f"{prefix}{i}" for i in range(20)], rows, CTX)

    threads = [
        threading.Thread(target=enrol, args=(a, batches[2:4])),
        threading.Thread(target=enrol, args=(b, batches[4:])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    everything = np.vstack([rows for rows, _ in batches])
    expected = [f"{prefix}{i}" for _, prefix in batches for i in range(20)]
    assert _top(a, everything) == expected
    assert _top(b, everything) == expected
    assert a.collection_sizes()["faces"] == b.collection_sizes()["faces"] == 120


def test_a_dek_rotation_by_one_is_followed_by_the_others_writes(
    pg_url: str, keyset: CkksKeySet, key_service
) -> None:
    """A rotates the collection's DEK (new version, blocks resealed, the old one
    retired); B, which unwrapped only the old version, then enrols: its block is
    sealed under the new version (never the retired one) and A opens it."""
    from vault.keys.datakeys import CollectionDataKeys
    from vault.keys.rotation import RotationOptions, rotate_dek

    key = DataKey._unsafe_from_material(os.urandom(32), "test")
    stores = [PostgresTemplateStore(pg_url) for _ in range(2)]
    rings = [CollectionDataKeys(s, key_service) for s in stores]
    a, b = (
        VaultCore(store=s, keyset=keyset, audit=MemoryAuditSink(), pseudonym_key=key,
                  data_keys=d, follow_store=True)
        for s, d in zip(stores, rings, strict=True)
    )  # fmt: skip
    try:
        a.create_collection(SPEC, CTX)
        first = _unit(np.random.default_rng(3).standard_normal((5, DIM)))
        a.enroll("faces", [f"a{i}" for i in range(5)], first, CTX)
        assert _top(b, first) == [f"a{i}" for i in range(5)]  # B holds DEK version 1
        summary = rotate_dek(
            stores[0], key_service, rings[0], RotationOptions("dek", collections=("faces",)),
            lambda _: None, keyset_params=None,
        )  # fmt: skip
        assert summary.collections == {"faces": 2} and summary.remaining_old == 0
        second = _unit(np.random.default_rng(4).standard_normal((5, DIM)))
        b.enroll("faces", [f"b{i}" for i in range(5)], second, CTX)
        headers = stores[0].block_headers("faces", 12)
        versions = {int.from_bytes(h[8:12], "little") for _, h in headers}
        assert versions == {2}, versions
        assert _top(a, np.vstack([first, second])) == [f"a{i}" for i in range(5)] + [
            f"b{i}" for i in range(5)
        ]
    finally:
        for s in stores:
            s.close()
