"""Group commit: concurrent enrolments to one collection wait together and are
stored as one enrolment; each still succeeds or fails on its own."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from tests.core.conftest import MemoryAuditSink
from tests.support.synthetic import identities
from vault import deadline
from vault.core.vault import VaultCore
from vault.errors import AlreadyExists, DeadlineExceeded, StorageError
from vault.keys.datakey import DataKey
from vault.store.sqlite import SqliteTemplateStore
from vault.types import CollectionPolicy, CollectionSpec, ProtectionMode, RequestContext

DIM = 32
CTX = RequestContext(actor="station", purpose="access", consent_ref="c", legal_basis="consent")


class _GatedStore(SqliteTemplateStore):
    """Holds the first enrolment commit until the test opens the gate; counts commits."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.waiting = threading.Event()  # the first commit is held at the gate
        self.commits: list[int] = []
        self.fail_on: int | None = None  # which commit (1-based) fails

    def commit_enrollment(self, collection, blocks, subjects) -> None:
        if not self.commits:
            self.waiting.set()
            self.gate.wait(10)
        if self.fail_on == len(self.commits) + 1:
            self.commits.append(-len(subjects))
            raise StorageError("template store: cannot commit enrollment: the disk is full")
        super().commit_enrollment(collection, blocks, subjects)
        self.commits.append(len(subjects))


@pytest.fixture
def gated(tmp_path, keyset):
    store = _GatedStore(tmp_path / "vault.db")
    audit = MemoryAuditSink()
    core = VaultCore(
        store=store,
        keyset=keyset,
        audit=audit,
        pseudonym_key=DataKey._unsafe_from_material(os.urandom(32), "test"),
    )
    core.create_collection(
        CollectionSpec(
            "faces",
            ProtectionMode.CKKS,
            DIM,
            True,
            ("access",),
            policy=CollectionPolicy(max_top_k=100),
        ),
        CTX,
    )
    yield core, store, audit
    store.close()


def _enrol_in_threads(
    core, jobs, *, bounded: dict[str, float] | None = None
) -> tuple[dict[str, object], list[threading.Thread]]:
    """Start one thread per (ids, rows) job; return each job's result or error by first id."""
    results: dict[str, object] = {}

    def run(ids, rows) -> None:
        try:
            with deadline.bounded_by((bounded or {}).get(ids[0])):
                results[ids[0]] = core.enroll("faces", ids, rows, CTX)
        except Exception as error:  # collected for the asserts
            results[ids[0]] = error

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for index, thread in enumerate(threads):
        thread.start()
        # Submit in order: the first job holds the writer at the store's gate, each
        # later one is queued before the next starts (a fixed sleep lost this race
        # on a loaded machine).
        if index == 0:
            assert core._store.waiting.wait(10), "the first enrolment never reached the store"
        else:
            _wait_queued(core, index)
    return results, threads


def _wait_queued(core, count: int) -> None:
    queue = core._locks["faces"].enrollments
    for _ in range(500):
        with queue._cond:
            if len(queue._pending) >= count:
                return
        time.sleep(0.01)
    raise AssertionError("requests did not queue")


def test_waiting_enrolments_are_stored_as_one(gated) -> None:
    core, store, audit = gated
    rows = identities(9, DIM, np.random.default_rng(0)).astype(np.float32)
    jobs = [([f"s{i}"], rows[i : i + 1]) for i in range(9)]
    results, threads = _enrol_in_threads(core, jobs)
    _wait_queued(core, 8)  # the first is committing, eight wait behind it
    store.gate.set()
    for thread in threads:
        thread.join(20)
    assert results == {f"s{i}": 1 for i in range(9)}
    assert store.commits == [1, 8]
    assert [e.outcome for e in audit.events if e.action == "enroll"] == ["ok"] * 9
    top = core.identify("faces", rows, 1, CTX)
    assert [m[0].subject_id for m in top] == [f"s{i}" for i in range(9)]


def test_each_request_fails_alone(gated) -> None:
    """A taken id, a duplicate within the batch and a passed deadline refuse only
    their own request."""
    core, store, _ = gated
    rows = identities(6, DIM, np.random.default_rng(1)).astype(np.float32)
    jobs = [
        (["first"], rows[0:1]),
        (["a", "b"], rows[1:3]),
        (["b", "c"], rows[3:5]),  # b: taken by the request before it in the batch
        (["late"], rows[5:6]),
        (["first"], rows[5:6]),  # taken by the committed first request
    ]
    results, threads = _enrol_in_threads(core, jobs, bounded={"late": 0.05})
    _wait_queued(core, 4)
    time.sleep(0.1)  # "late"'s caller gives up while it waits
    store.gate.set()
    for thread in threads:
        thread.join(20)
    assert store.commits == [1, 2], results
    assert results["a"] == 2
    assert isinstance(results["b"], AlreadyExists)
    assert isinstance(results["late"], DeadlineExceeded)
    assert core.get_collection("faces", CTX).size == 3  # first, a, b


def test_a_failed_commit_refuses_its_whole_batch_and_stores_nothing(gated) -> None:
    core, store, _ = gated
    rows = identities(4, DIM, np.random.default_rng(2)).astype(np.float32)
    store.fail_on = 2  # the merged commit of s1 and s2
    results, threads = _enrol_in_threads(core, [([f"s{i}"], rows[i : i + 1]) for i in range(3)])
    _wait_queued(core, 2)
    store.gate.set()
    for thread in threads:
        thread.join(20)
    assert store.commits == [1, -2]
    assert results["s0"] == 1
    assert isinstance(results["s1"], StorageError) and isinstance(results["s2"], StorageError)
    assert core.enroll("faces", ["s1"], rows[1:2], CTX) == 1  # nothing of it was stored
    assert core.get_collection("faces", CTX).size == 2


def test_a_batch_commits_under_its_last_callers_deadline() -> None:
    """The batch's deadline is the latest of its accepted callers' (None outlasts all),
    set for the commit only: a late leader cannot fail the others' requests."""
    from vault.core.group_commit import _latest

    assert _latest([1.0, 3.0, 2.0]) == 3.0 and _latest([1.0, None]) is None
    with deadline.until(time.monotonic() - 1.0):
        assert deadline.expired()
    assert not deadline.expired()
