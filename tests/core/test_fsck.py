"""fsck's structural checks find what a crash or tampering could leave behind."""

from __future__ import annotations

import sqlite3

import numpy as np

from tests.support.synthetic import identities
from vault.core.fsck import FsckReport, check_store
from vault.store.base import SecretRow
from vault.store.sqlite import SqliteTemplateStore
from vault.types import CollectionSpec, ProtectionMode, RequestContext

CTX = RequestContext(actor="tester", purpose="access", consent_ref="c", legal_basis="consent")


def _populated(make_core, tmp_path):
    core = make_core()
    spec = CollectionSpec("faces", ProtectionMode.CKKS, 16, purposes=("access",))
    core.create_collection(spec, CTX)
    rows = identities(6, 16, np.random.default_rng(0)).astype(np.float32)
    core.enroll("faces", [f"s{i}" for i in range(6)], rows, CTX)
    core.delete("faces", "s2", CTX)
    return tmp_path / "vault.db"


def _check(path) -> FsckReport:
    report = FsckReport()
    with SqliteTemplateStore(path, read_only=True) as store:
        check_store(path.parent, store, report)
    return report


def test_a_consistent_store_has_no_problems(make_core, tmp_path) -> None:
    """Enrol and erase, then every count, slot and header agrees."""
    report = _check(_populated(make_core, tmp_path))
    assert report.problems == []
    assert (report.counts["collections"], report.counts["subjects"]) == (1, 5)
    assert report.counts["orphan_collection_keys"] == 0


def test_a_live_count_that_disagrees_with_the_subjects_is_found(make_core, tmp_path) -> None:
    """A block claiming more live templates than subjects point to is reported."""
    path = _populated(make_core, tmp_path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE blocks SET live = live + 1")
    assert any("live count" in p for p in _check(path).problems)


def test_a_damaged_header_and_a_runaway_slot_are_found(make_core, tmp_path) -> None:
    """A block whose header is garbage, and a subject beyond next_slot, are both reported."""
    path = _populated(make_core, tmp_path)
    with sqlite3.connect(path) as db:
        (blob,) = db.execute("SELECT blob FROM blocks").fetchone()
        db.execute("UPDATE blocks SET blob = ?", (b"\x00\x11\x22\x33" + bytes(blob)[4:],))
        db.execute("UPDATE subjects SET slot = 4000 WHERE subject_id = 's1'")
    problems = _check(path).problems
    assert any("header" in p for p in problems)
    assert any("beyond next_slot" in p for p in problems)


def test_keys_of_a_collection_that_does_not_exist_are_counted_not_reported(
    make_core, tmp_path
) -> None:
    """A crash between storing a new collection's key and its row is harmless."""
    path = _populated(make_core, tmp_path)
    with SqliteTemplateStore(path) as store:
        store.put_secret(SecretRow("data-key", "ghost", 1, 0, b"wrapped"))
    report = _check(path)
    assert report.problems == []
    assert report.counts["orphan_collection_keys"] == 1
