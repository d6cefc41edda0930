"""Several writers on one PostgreSQL store: the per-collection change counter and
write lock that let front-ends share it (a real server, no mocks)."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import psycopg

from tests.store.records import COLLECTION, block, collection_record, subject
from tests.support.postgres import PostgresServer
from vault.errors import StorageError
from vault.store.postgres import PostgresTemplateStore
from vault.store.postgres._db import COLLECTION_LOCK_NAMESPACE
from vault.store.sqlite import SqliteTemplateStore


def test_every_change_bumps_the_generation_seen_by_another_process(pg_url: str) -> None:
    """Enrolment, erasure and a settings change each bump the collection's counter,
    and another store session reads the new value at once; other collections keep theirs."""
    first, second = PostgresTemplateStore(pg_url), PostgresTemplateStore(pg_url)
    try:
        first.create_collection(collection_record())
        first.create_collection(collection_record("other"))
        assert second.collection_generation(COLLECTION) == 0
        first.commit_enrollment(COLLECTION, [block(0)], [subject("alice"), subject("bob", slot=1)])
        assert second.collection_generation(COLLECTION) == 1
        first.commit_erasure(COLLECTION, "alice", replacement=block(0), drop_block=None)
        assert second.collection_generation(COLLECTION) == 2
        first.update_collection(collection_record(key_version=2))
        assert second.collection_generation(COLLECTION) == 3
        assert second.collection_generation("other") == 0
        assert second.collection_generation("missing") is None
    finally:
        first.close()
        second.close()


def test_sqlite_has_no_other_writers(tmp_path: Path) -> None:
    """SQLite is served by one process: no counter to follow, and the lock is free."""
    store = SqliteTemplateStore(tmp_path / "vault.db")
    try:
        store.create_collection(collection_record())
        assert store.collection_generation(COLLECTION) is None
        with store.collection_lock(COLLECTION), store.collection_lock(COLLECTION):
            pass
    finally:
        store.close()


def test_the_collection_lock_excludes_other_sessions_of_that_collection(pg_url: str) -> None:
    """While one store holds a collection's lock another waits for it (and gets it
    once released), but locks a different collection at once."""
    first, second = PostgresTemplateStore(pg_url), PostgresTemplateStore(pg_url)
    got = threading.Event()

    def take() -> None:
        with second.collection_lock(COLLECTION):
            got.set()

    try:
        with first.collection_lock(COLLECTION):
            waiter = threading.Thread(target=take)
            waiter.start()
            started = time.monotonic()
            with second.collection_lock("other"):
                assert time.monotonic() - started < 2.0, "another collection is not held"
            assert not got.wait(0.5), "the second session took a held lock"
        assert got.wait(10), "the lock was not handed over when released"
        waiter.join(10)
    finally:
        first.close()
        second.close()


def test_a_dead_holder_releases_the_lock(pg_url: str, postgres_server: PostgresServer) -> None:
    """The lock lives in a transaction of its own session: when that session ends (the
    holder killed - here its backend terminated) the next writer gets the lock."""
    first, second = PostgresTemplateStore(pg_url), PostgresTemplateStore(pg_url)
    got = threading.Event()

    def take() -> None:
        with second.collection_lock(COLLECTION):
            got.set()

    held = first.collection_lock(COLLECTION)
    held.__enter__()
    try:
        waiter = threading.Thread(target=take)
        waiter.start()
        assert not got.wait(0.5)
        with psycopg.connect(postgres_server.admin_conninfo(), autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND classid = %s AND granted",
                (COLLECTION_LOCK_NAMESPACE,),
            ).fetchall()
        assert ended == [(True,)]
        assert got.wait(10), "a dead holder kept the lock"
        waiter.join(10)
    finally:
        with contextlib.suppress(StorageError):
            held.__exit__(None, None, None)
        first.close()
        second.close()


def test_a_task_runs_in_one_process_at_a_time(pg_url: str, tmp_path: Path) -> None:
    """While one store runs "retention", another is told to skip it (no wait); a
    different task, and the same one afterwards, are free. SQLite: always free."""
    first, second = PostgresTemplateStore(pg_url), PostgresTemplateStore(pg_url)
    try:
        with first.run_alone("retention") as mine:
            assert mine
            with second.run_alone("retention") as other, second.run_alone("x") as free:
                assert (other, free) == (False, True)
        with second.run_alone("retention") as mine:
            assert mine
    finally:
        first.close()
        second.close()
    sqlite = SqliteTemplateStore(tmp_path / "vault.db")
    with sqlite.run_alone("retention") as a, sqlite.run_alone("retention") as b:
        assert a and b
    sqlite.close()


def test_block_bookkeeping_and_subjects_of_some_blocks(pg_url: str, tmp_path: Path) -> None:
    """What a following front-end diffs: each block's (next_slot, live, encryptions)
    without its blob, and the subjects of just the changed blocks - on both backends."""
    for store in (PostgresTemplateStore(pg_url), SqliteTemplateStore(tmp_path / "vault.db")):
        try:
            store.create_collection(collection_record())
            store.commit_enrollment(
                COLLECTION,
                [block(0, next_slot=2, live=2), block(1)],
                [subject("alice"), subject("bob", slot=1), subject("carol", block_no=1)],
            )
            assert store.block_bookkeeping(COLLECTION) == {0: (2, 2, 2), 1: (1, 1, 1)}
            assert [s.subject_id for s in store.subjects_in_blocks(COLLECTION, [1])] == ["carol"]
            assert store.subjects_in_blocks(COLLECTION, []) == []
        finally:
            store.close()
