"""The shared connection is safe under concurrent callers, as the gRPC server uses it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.store.records import COLLECTION, block, subject
from vault.errors import AlreadyExists
from vault.store import TemplateStore as Store

_THREADS = 8
_PER_THREAD = 25


def _worker(store: Store, worker: int) -> int:
    clashes = 0
    for n in range(_PER_THREAD):
        block_no = worker * _PER_THREAD + n
        store.commit_enrollment(COLLECTION, [block(block_no)], [subject(f"s{block_no}", block_no)])
        # Everyone also races for one shared id: exactly one thread may win it.
        try:
            store.commit_enrollment(COLLECTION, [block(10_000)], [subject("contested", 10_000)])
        except AlreadyExists:
            clashes += 1
        assert sum(1 for _ in store.iter_blocks(COLLECTION)) >= 1
        if n % 2:
            store.commit_erasure(COLLECTION, f"s{block_no}", replacement=None, drop_block=block_no)
    return clashes


def test_concurrent_enrollments_and_erasures_stay_consistent(store: Store) -> None:
    """Parallel commits, reads and erasures neither fail nor lose or duplicate rows."""
    with ThreadPoolExecutor(_THREADS) as pool:
        clashes = sum(pool.map(lambda w: _worker(store, w), range(_THREADS)))
    kept_per_thread = (_PER_THREAD + 1) // 2
    assert clashes == _THREADS * _PER_THREAD - 1
    assert store.count_subjects(COLLECTION) == _THREADS * kept_per_thread + 1
    assert store.count_blocks(COLLECTION) == _THREADS * kept_per_thread + 1
    assert store.get_subject(COLLECTION, "contested") is not None
