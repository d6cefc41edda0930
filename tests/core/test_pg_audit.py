"""On PostgreSQL an enrolment's or erasure's audit entries are inserted in the same
transaction as the store change (issue 15, item 4): a commit the database refuses
leaves no ``ok`` entry and no gap in the sequence, and the log's memory follows.
Failures are real ones: a trigger raising inside the commit (no mocks)."""

from __future__ import annotations

import os
import threading

import numpy as np
import psycopg
import pytest

from tests.audit.conftest import write_bundle
from tests.support.synthetic import identities
from vault.audit.bundle import export_bundle
from vault.audit.entry import decode_entry
from vault.audit.log import MerkleAuditLog
from vault.audit.note import NoteSigner, NoteVerifier
from vault.audit.receipt import verify_receipt
from vault.audit.verify import verify_bundle
from vault.core.compliance import ComplianceOps
from vault.core.fsck import FsckReport, check_log_accounts_for_store
from vault.core.guard import ComplianceGuard
from vault.core.vault import VaultCore
from vault.errors import AlreadyExists, ConfigurationError, StorageError
from vault.keys.datakey import DataKey
from vault.store.postgres import PostgresLogRows, PostgresTemplateStore
from vault.types import CollectionSpec, ProtectionMode, RequestContext

DIM = 16
CTX = RequestContext(actor="station", purpose="access", consent_ref="C-1", legal_basis="consent")
_SIGNER = NoteSigner.generate("biovault.local/audit/pg-atomic-test")
_KEY = DataKey._unsafe_from_material(os.urandom(32), "t")


class _PgWorld:
    """A compliant core over a real PostgreSQL store whose log lives in it."""

    def __init__(self, url: str, keyset) -> None:
        self.url = url
        self.keyset = keyset
        self.opened: list = []

    def open(self) -> tuple[VaultCore, MerkleAuditLog, PostgresTemplateStore]:
        store = PostgresTemplateStore(self.url)
        log = MerkleAuditLog(PostgresLogRows(store), _SIGNER)
        self.opened += [store, log]
        core = VaultCore(
            store=store,
            keyset=self.keyset,
            audit=log,
            compliance=ComplianceGuard(log),
            pseudonym_key=_KEY,
        )
        self.compliance = ComplianceOps(core)
        return core, log, store

    def close(self) -> None:
        for thing in reversed(self.opened):
            thing.close()
        self.opened = []


@pytest.fixture
def world(pg_url, keyset):
    w = _PgWorld(pg_url, keyset)
    yield w
    w.close()


def _entries(log: MerkleAuditLog):
    return [decode_entry(data) for _, data, _ in log.iter_rows(0, log.size)]


def _stored_seqs(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [int(r[0]) for r in conn.execute("SELECT seq FROM audit_entries ORDER BY seq")]


def _refuse(url: str, table: str, event: str, when: str) -> None:
    """A trigger that makes the database itself refuse a write (SQLSTATE P0001)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused by test trigger'; END $$"
        )
        conn.execute(
            f"CREATE TRIGGER refuse BEFORE {event} ON {table} FOR EACH ROW "
            f"WHEN ({when}) EXECUTE FUNCTION refuse()"
        )


def _create(core: VaultCore) -> None:
    core.create_collection(
        CollectionSpec("faces", ProtectionMode.CKKS, DIM, purposes=("access",)), CTX
    )


def _rows(n: int, seed: int = 0) -> np.ndarray:
    return identities(n, DIM, np.random.default_rng(seed)).astype(np.float32)


def _fsck(log, store) -> FsckReport:
    report = FsckReport()
    check_log_accounts_for_store(log, store, report)
    return report


def test_a_refused_enrolment_commit_leaves_no_ok_entry_and_no_gap(world) -> None:
    """The database refuses one subject row: no enroll/ok and no rollback entry, only
    the refused call's own entry; numbers stay 0..n-1 in memory and in the rows."""
    core, log, store = world.open()
    _create(core)
    core.enroll("faces", ["a"], _rows(1), CTX)
    _refuse(world.url, "subjects", "INSERT", "NEW.subject_id = 'poison'")
    before = log.size
    with pytest.raises(StorageError, match="refused by test trigger"):
        core.enroll("faces", ["b", "poison"], _rows(2, 1), CTX)
    added = [(e.action, e.outcome) for e in _entries(log)[before:]]
    assert added == [("enroll", "StorageError")]
    assert store.count_subjects("faces") == 1
    core.enroll("faces", ["c"], _rows(1, 2), CTX)  # the log goes on from memory
    assert _stored_seqs(world.url) == list(range(log.size))
    assert _fsck(log, store).problems == []
    world.close()
    _, log, store = world.open()  # the root recomputed from the rows matches the checkpoint
    assert not [e for e in _entries(log) if e.action in ("reconcile.absent", "enroll.rollback")]
    assert _fsck(log, store).problems == []


def test_a_refused_erasure_commit_leaves_no_ok_entry(world) -> None:
    """The block rewrite is refused: the subject stays, the log says the delete failed."""
    core, log, store = world.open()
    _create(core)
    core.enroll("faces", ["a", "b"], _rows(2), CTX)
    _refuse(world.url, "blocks", "UPDATE", "true")
    before = log.size
    with pytest.raises(StorageError, match="refused by test trigger"):
        core.delete("faces", "a", CTX)
    with pytest.raises(StorageError, match="refused by test trigger"):
        core.delete_many("faces", ["a", "b"], CTX)
    added = [(e.action, e.outcome, len(e.subjects)) for e in _entries(log)[before:]]
    assert added == [
        ("delete", "StorageError", 1),
        ("delete", "StorageError", 1),
        ("delete", "StorageError", 1),
    ]
    assert store.count_subjects("faces") == 2
    assert _stored_seqs(world.url) == list(range(log.size))
    assert _fsck(log, store).problems == []


def test_erasures_commit_with_their_entries_and_receipts_verify(world) -> None:
    """Single and bulk erasure on PostgreSQL: one ok entry each, receipts verify,
    the store and the log agree after reopening."""
    core, log, store = world.open()
    _create(core)
    core.enroll("faces", ["a", "b", "c", "d"], _rows(4), CTX)
    single = core.delete("faces", "a", CTX)
    bulk = core.delete_many("faces", ["b", "c"], CTX)
    verifier = NoteVerifier(_SIGNER.verifier_key)
    for result in [single, *bulk]:
        assert result.receipt is not None
        entry, _ = verify_receipt(result.receipt, verifier)
        assert entry.action == "delete" and entry.outcome == "ok"
    assert store.count_subjects("faces") == 1
    assert _stored_seqs(world.url) == list(range(log.size))
    world.close()
    _, log, store = world.open()
    assert _fsck(log, store).problems == []


def test_two_cores_on_one_database_keep_one_log(world, tmp_path) -> None:
    """Two front-ends' cores (own connections, same key) enrol and erase at once in
    two collections: their joint transactions queue on the log's lock, the rows
    are 0..n-1, the offline verifier accepts the whole log and fsck agrees."""
    first, _, _ = world.open()
    _create(first)
    first.create_collection(
        CollectionSpec("gate", ProtectionMode.CKKS, DIM, purposes=("access",)), CTX
    )
    second, _, _ = world.open()
    errors: list[BaseException] = []

    def work(core: VaultCore, collection: str, seed: int) -> None:
        try:
            for i in range(6):
                ids = [f"{collection}-{i}-{j}" for j in range(3)]
                core.enroll(collection, ids, _rows(3, seed + i), CTX)
                core.delete(collection, ids[0], CTX)
        except BaseException as error:
            errors.append(error)

    threads = [
        threading.Thread(target=work, args=(first, "faces", 0)),
        threading.Thread(target=work, args=(second, "gate", 100)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = PostgresTemplateStore(world.url)
    reader = MerkleAuditLog(PostgresLogRows(store), _SIGNER, create=False)
    try:
        assert _stored_seqs(world.url) == list(range(reader.size))
        bundle = write_bundle(export_bundle(reader), tmp_path / "bundle")
        verified = verify_bundle(bundle, _SIGNER.verifier_key)
        assert verified.size == reader.size
        assert sum(1 for e in verified.entries if e.action == "enroll") == 12
        assert sum(1 for e in verified.entries if e.action == "delete") == 12
        assert _fsck(reader, store).problems == []
        assert store.count_subjects("faces") == store.count_subjects("gate") == 12
    finally:
        reader.close()
        store.close()


def test_a_log_on_another_connection_is_refused(world, keyset) -> None:
    """The store is asked whether the log's rows are its own: a log whose entries
    would commit on another connection cannot be wired to the core."""
    _, log, _ = world.open()
    other = PostgresTemplateStore(world.url)
    world.opened.append(other)
    with pytest.raises(ConfigurationError, match="not on the template store's connection"):
        VaultCore(store=other, keyset=keyset, audit=log, pseudonym_key=_KEY)


def test_an_id_another_front_end_committed_is_refused_inside_the_transaction(world) -> None:
    """Two cores on one store enrol the same id: the second's commit finds the first's
    row, and its entries go with its rolled-back transaction (no ok, no rollback)."""
    first, _, _ = world.open()
    _create(first)
    second, _, _ = world.open()  # loaded before "dup" exists: its memory does not know it
    first.enroll("faces", ["dup"], _rows(1), CTX)
    before = _stored_seqs(world.url)
    with pytest.raises(AlreadyExists):
        second.enroll("faces", ["dup", "fresh"], _rows(2, 3), CTX)
    after = _stored_seqs(world.url)
    assert after == list(range(len(after))) and len(after) == len(before) + 1
    store2 = PostgresTemplateStore(world.url)
    reader = MerkleAuditLog(PostgresLogRows(store2), _SIGNER, create=False)
    try:
        added = [(e.action, e.outcome) for e in _entries(reader)[len(before) :]]
        assert added == [("enroll", "AlreadyExists")]
        assert _fsck(reader, store2).problems == []
        assert store2.count_subjects("faces") == 1
    finally:
        reader.close()
        store2.close()
