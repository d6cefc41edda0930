"""The audit log accounts for every stored subject: write-ahead enrolment entries,
chunked subject lists, start-up recovery, fsck's store/log comparison, and the
consent reference a withdrawal must match (issue 13, items 6 and 9)."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from tests.core.conftest import MemoryAuditSink
from tests.support.synthetic import identities
from vault.audit.base import AuditEvent
from vault.audit.entry import decode_entry
from vault.audit.log import MerkleAuditLog
from vault.audit.note import NoteSigner
from vault.core.compliance import ComplianceOps
from vault.core.fsck import FsckReport, check_log_accounts_for_store
from vault.core.guard import ComplianceGuard
from vault.core.vault import VaultCore
from vault.errors import FailedPrecondition, StorageError
from vault.keys.datakey import DataKey
from vault.store.sqlite import SqliteTemplateStore
from vault.types import CollectionSpec, ProtectionMode, RequestContext

DIM = 16
CTX = RequestContext(actor="station", purpose="access", consent_ref="C-1", legal_basis="consent")


class _World:
    """A compliant core over real SQLite and the real Merkle log, reopenable."""

    def __init__(self, tmp_path, keyset) -> None:
        self.tmp_path = tmp_path
        self.keyset = keyset
        self.signer = NoteSigner.generate("biovault.local/audit/ledger-test")
        self.key = DataKey._unsafe_from_material(os.urandom(32), "t")
        self.opened: list = []

    def open(self) -> tuple[VaultCore, MerkleAuditLog, SqliteTemplateStore]:
        """The core, wired with compliance as the service does; ``self.compliance``
        holds its compliance use cases (which reconcile log and store on opening)."""
        log = MerkleAuditLog(self.tmp_path / "audit.db", self.signer)
        store = SqliteTemplateStore(self.tmp_path / "vault.db")
        self.opened += [log, store]
        core = VaultCore(
            store=store,
            keyset=self.keyset,
            audit=log,
            compliance=ComplianceGuard(log),
            pseudonym_key=self.key,
        )
        self.compliance = ComplianceOps(core)
        return core, log, store

    def close(self) -> None:
        for thing in reversed(self.opened):
            thing.close()
        self.opened = []


@pytest.fixture
def world(tmp_path, keyset):
    w = _World(tmp_path, keyset)
    yield w
    w.close()


def _entries(log):
    return [decode_entry(data) for _, data, _ in log.iter_rows(0, log.size)]


def _fsck(log, store) -> FsckReport:
    report = FsckReport()
    check_log_accounts_for_store(log, store, report)
    return report


def _create(core) -> None:
    core.create_collection(
        CollectionSpec("faces", ProtectionMode.CKKS, DIM, purposes=("access",)), CTX
    )


def _rows(n, seed=0):
    return identities(n, DIM, np.random.default_rng(seed)).astype(np.float32)


def test_a_large_enrolment_lists_every_subject_in_chunks(world) -> None:
    """2,500 subjects: three entries of <= 1,000 pseudonyms whose digest an auditor checks."""
    core, log, store = world.open()
    _create(core)
    ids = [f"s{i}" for i in range(2500)]
    core.enroll("faces", ids, _rows(2500), CTX)
    chunks = [e for e in _entries(log) if e.action == "enroll"]
    assert [len(e.subjects) for e in chunks] == [1000, 1000, 500]
    assert [e.details["chunk"] for e in chunks] == [1, 2, 3]
    assert {e.details["chunks"] for e in chunks} == {3}
    assert all(e.details["consent_ref"] == "C-1" and e.details["count"] == 2500 for e in chunks)
    listed = [p for e in chunks for p in e.subjects]
    digest = hashlib.sha256("\n".join(listed).encode()).hexdigest()
    assert {e.details["subjects_sha256"] for e in chunks} == {digest}
    assert listed == [core._pseudonym("faces", s) for s in ids]
    assert _fsck(log, store).problems == []


def test_fsck_reports_a_stored_enrolment_the_log_does_not_list(world) -> None:
    """Subjects committed without their audit entry (the crash of issue 13) are reported."""
    core, log, store = world.open()
    _create(core)
    core.enroll("faces", ["a", "b"], _rows(2), CTX)
    assert _fsck(log, store).problems == []
    # The old order: store commit, entry afterwards - simulated by a core whose
    # entries go elsewhere, on the same store.
    unlogged = VaultCore(
        store=store, keyset=world.keyset, audit=MemoryAuditSink(), pseudonym_key=world.key
    )
    unlogged.enroll("faces", ["c", "d", "e"], _rows(3, 1), CTX)
    problems = _fsck(log, store).problems
    assert problems == [
        "collection 'faces': the store holds 5 subject(s) but the audit log accounts for 2 "
        "(enrolled minus erased)"
    ]


def test_erasures_and_revocations_are_subtracted(world) -> None:
    """Enrolled minus deleted minus withdrawn equals the store, also after reopening."""
    core, log, store = world.open()
    _create(core)
    core.enroll("faces", ["a", "b", "c", "d"], _rows(4), CTX)
    core.delete("faces", "a", CTX)
    world.compliance.withdraw_consent("faces", "b", RequestContext(actor="dpo", consent_ref="C-1"))
    report = _fsck(log, store)
    assert report.problems == [] and store.count_subjects("faces") == 2
    world.close()
    _, log, store = world.open()
    assert _fsck(log, store).problems == []
    assert not [e for e in _entries(log) if e.action == "reconcile.absent"]


def test_a_crash_between_entries_and_commit_is_pending_then_recovered(world) -> None:
    """Entries written, commit lost: fsck counts it pending; the next start records it."""
    core, log, store = world.open()
    _create(core)
    core.enroll("faces", ["a"], _rows(1), CTX)
    lost = ["x", "y", "z"]
    log.append(  # what the write-ahead entry of an enrolment killed before its commit leaves
        AuditEvent(
            time=0.0,
            actor="station",
            action="enroll",
            collection="faces",
            outcome="ok",
            subjects=tuple(core._pseudonym("faces", s) for s in lost),
            details={"count": 3},
        )
    )
    report = _fsck(log, store)
    assert report.problems == [] and report.counts["subjects_pending_recovery"] == 3
    world.close()
    core, log, store = world.open()
    recovered = [e for e in _entries(log) if e.action == "reconcile.absent"]
    assert len(recovered) == 1 and len(recovered[0].subjects) == 3
    report = _fsck(log, store)
    assert report.problems == [] and report.counts["subjects_pending_recovery"] == 0
    core.enroll("faces", lost, _rows(3, 2), CTX)  # the ids are free again
    assert _fsck(log, store).problems == []


def test_a_refused_store_commit_takes_its_entries_back(world, monkeypatch) -> None:
    """The store refuses after the entries were written: a rollback entry, nothing stored."""
    core, log, store = world.open()
    _create(core)

    def full(*args, **kwargs):
        raise StorageError("template store: cannot commit enrollment: the disk is full")

    monkeypatch.setattr(store, "commit_enrollment", full)
    with pytest.raises(StorageError):
        core.enroll("faces", ["a", "b"], _rows(2), CTX)
    actions = [(e.action, e.outcome, len(e.subjects)) for e in _entries(log)][-3:]
    assert actions == [
        ("enroll", "ok", 2),
        ("enroll.rollback", "ok", 2),
        ("enroll", "StorageError", 2),
    ]
    assert _fsck(log, store).problems == [] and store.count_subjects("faces") == 0


def test_withdrawal_under_another_consent_reference_is_refused_and_audited(world) -> None:
    """C-999 for a subject enrolled under C-1: FAILED_PRECONDITION, logged, nothing erased."""
    core, log, store = world.open()
    _create(core)
    core.enroll("faces", ["a", "b"], _rows(2), CTX)
    before = log.size
    with pytest.raises(FailedPrecondition, match="does not match"):
        world.compliance.withdraw_consent(
            "faces", "a", RequestContext(actor="dpo", consent_ref="C-999")
        )
    with pytest.raises(FailedPrecondition):
        world.compliance.withdraw_consent("faces", "a", RequestContext(actor="dpo"))
    refused = _entries(log)[before:]
    assert [(e.action, e.outcome, e.details["consent_ref"]) for e in refused] == [
        ("consent.withdraw", "FailedPrecondition", "C-999"),
        ("consent.withdraw", "FailedPrecondition", ""),
    ]
    assert store.count_subjects("faces") == 2 and core.get_collection("faces", CTX).size == 2
    assert (
        world.compliance.withdraw_consent("faces", "a", RequestContext(consent_ref="C-1")).erased
        == 1
    )
    assert _fsck(log, store).problems == []
