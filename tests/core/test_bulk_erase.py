"""Bulk erasure: per-subject receipts, one rewrite per block, all-or-nothing refusal,
and the retention sweep through the same path (real TenSEAL, SQLite, Merkle log)."""

import numpy as np
import pytest

from tests.support.compliant import SettableClock, compliant_vault
from tests.support.policy import with_policy
from tests.support.synthetic import identities, samples
from vault.audit.entry import decode_entry
from vault.audit.log import MerkleAuditLog
from vault.audit.note import NoteSigner, NoteVerifier
from vault.audit.receipt import verify_receipt
from vault.core.compliance import SYSTEM_RETENTION
from vault.errors import InvalidArgument, NotFound
from vault.types import CollectionSpec, ProtectionMode, RequestContext

DIM = 16
DAY = 86_400.0
CTX = RequestContext(actor="station-7", purpose="access", consent_ref="f-1", legal_basis="consent")


@pytest.fixture
def world(tmp_path, keyset):
    clock = SettableClock()
    vault, compliance, log, store, verifier = compliant_vault(tmp_path, keyset, clock, "bulk-test")
    yield vault, compliance, log, store, clock, verifier
    log.close()
    store.close()


def _enrolled(vault, n, **spec):
    vault.create_collection(
        CollectionSpec(
            "faces",
            ProtectionMode.CKKS,
            DIM,
            allow_identification=True,
            purposes=("access",),
            **spec,
        ),
        CTX,
    )
    templates = identities(n, DIM, np.random.default_rng(0)).astype(np.float32)
    ids = [f"s{i}" for i in range(n)]
    vault.enroll("faces", ids, templates, CTX)
    return ids, templates


def test_bulk_delete_gives_each_subject_its_own_receipt(world):
    """Receipts verify offline and name their own subject; the survivors still match."""
    vault, _compliance, _, _, _, verifier = world
    ids, templates = _enrolled(vault, 40)
    gone = ids[3:30:3]
    results = vault.delete_many("faces", gone, RequestContext(actor="dpo"))
    assert [r.subject_id for r in results] == gone
    for result in results:
        entry, _ = verify_receipt(result.receipt, verifier)
        assert (entry.action, entry.outcome, entry.purpose) == ("delete", "ok", "erasure-request")
        assert entry.subjects == (vault._pseudonym("faces", result.subject_id),)
    assert vault.get_collection("faces", CTX).size == 40 - len(gone)
    probes = samples(templates, np.random.default_rng(1), spread=0.3)
    # Identify lists only candidates above the threshold: an erased subject's probe
    # may find nobody at all.
    top1 = [r[0].subject_id if r else None for r in vault.identify("faces", probes, 1, CTX)]
    for i, subject in enumerate(ids):
        if subject in gone:
            assert top1[i] != subject
        else:
            assert top1[i] == subject


def test_bulk_delete_refuses_unknown_or_repeated_ids_and_changes_nothing(world):
    vault, _compliance, log, _, _, _ = world
    _enrolled(vault, 10)
    with pytest.raises(NotFound):
        vault.delete_many("faces", ["s1", "nobody"], RequestContext(actor="dpo"))
    with pytest.raises(InvalidArgument):
        vault.delete_many("faces", ["s1", "s1"], RequestContext(actor="dpo"))
    assert vault.get_collection("faces", CTX).size == 10
    refused = [decode_entry(d) for _, d, _ in log.iter_rows(0, log.size)][-1]
    assert (refused.action, refused.outcome) == ("delete", "NotFound")


def test_bulk_delete_of_a_whole_block_drops_it(world):
    vault, _compliance, _, store, _, _ = world
    ids, _ = _enrolled(vault, 12)
    vault.delete_many("faces", ids, RequestContext(actor="dpo"))
    assert vault.get_collection("faces", CTX).size == 0
    assert list(store.iter_blocks("faces")) == []


def test_retention_sweep_erases_through_the_bulk_path(world):
    """Every expired subject is erased with its own retention.erase entry."""
    vault, compliance, log, _, clock, _ = world
    ids, _ = _enrolled(vault, 20, **with_policy(retention_seconds=30 * DAY))
    clock.now += 31 * DAY
    [result] = compliance.enforce_retention(SYSTEM_RETENTION, "faces")
    assert sorted(result.erased) == sorted(ids)
    entries = [decode_entry(d) for _, d, _ in log.iter_rows(0, log.size)]
    erased = [e for e in entries if e.action == "retention.erase"]
    assert len(erased) == 20 and all(e.outcome == "ok" and "deadline" in e.details for e in erased)
    assert vault.get_collection("faces", CTX).size == 0


def test_log_append_many_signs_each_entry_and_is_all_or_nothing(tmp_path):
    """Batched appends give the same per-entry receipts as single ones; a bad event in
    the batch leaves the log untouched."""
    from vault.audit.base import AuditEvent

    signer = NoteSigner.generate("biovault.local/audit/batch")
    log = MerkleAuditLog(tmp_path / "a.db", signer)
    verifier = NoteVerifier(signer.verifier_key)

    def event(i, **details):
        return AuditEvent(
            time=1.0 + i, actor="a", action="delete", collection="c", outcome="ok",
            purpose="p", subjects=(f"x{i}",), details=details,
        )  # fmt: skip

    log.append(event(0))
    assert log.append_many([event(1), event(2), event(3)]) == [1, 2, 3]
    for seq in range(4):
        entry, _ = verify_receipt(log.receipt(seq), verifier)
        assert entry.subjects == (f"x{seq}",)
    with pytest.raises(ValueError):
        log.append_many([event(4), event(5, bad=[1, 2])])
    assert log.size == 4
    assert log.append_many([event(4)]) == [4]
    log.close()
    reopened = MerkleAuditLog(tmp_path / "a.db", signer, create=False)
    assert reopened.size == 5
    reopened.close()
