"""Consent, purpose, retention and receipts in the core, over real TenSEAL, SQLite and
the real Merkle log (signed by a local key; the Vault-held key is tested end to end)."""

import numpy as np
import pytest

from tests.core.conftest import MemoryAuditSink
from tests.support.compliant import compliant_vault
from tests.support.policy import with_policy
from tests.support.synthetic import identities
from vault.audit.entry import decode_entry, parse_time
from vault.audit.receipt import verify_receipt
from vault.core.compliance import SYSTEM_RETENTION, ComplianceOps
from vault.core.guard import ComplianceGuard
from vault.core.retention import DEFAULT_RETENTION_SECONDS
from vault.core.retention_schedule import RetentionScheduler
from vault.core.vault import VaultCore
from vault.errors import ConfigurationError, FailedPrecondition, InvalidArgument, NotFound
from vault.keys.datakey import DataKey
from vault.store.sqlite import SqliteTemplateStore
from vault.types import CollectionSpec, ProtectionMode, RequestContext

DIM = 16
DAY = 86_400.0
CTX = RequestContext(actor="station-7", purpose="access", consent_ref="f-1", legal_basis="consent")


class Clock:
    """A settable clock shared by the core and the log."""

    def __init__(self) -> None:
        self.now = 1_760_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world(tmp_path, keyset):
    clock = Clock()
    vault, compliance, log, store, verifier = compliant_vault(tmp_path, keyset, clock, "core-test")
    yield vault, compliance, log, clock, verifier
    log.close()
    store.close()


def _entries(log):
    return [decode_entry(data) for _, data, _ in log.iter_rows(0, log.size)]


def _create(vault, name="faces", **kw):
    kw.setdefault("purposes", ("access", "border"))
    return vault.create_collection(
        CollectionSpec(
            name, ProtectionMode.CKKS, DIM, allow_identification=True, **with_policy(**kw)
        ),
        CTX,
    )


def _templates(n, seed=0):
    return identities(n, DIM, np.random.default_rng(seed)).astype(np.float32)


def test_collections_must_declare_purposes_and_get_a_retention_period(world):
    """No purposes is refused; the default retention is BIPA's three years."""
    vault, _compliance, log, _, _ = world
    with pytest.raises(InvalidArgument, match="purpose"):
        _create(vault, purposes=())
    with pytest.raises(InvalidArgument):
        _create(vault, purposes=("bad purpose!",))
    with pytest.raises(InvalidArgument, match="retention"):
        _create(vault, retention_seconds=-1.0)
    info = _create(vault)
    assert info.policy.retention_seconds == DEFAULT_RETENTION_SECONDS
    assert _create(vault, "short", retention_seconds=30 * DAY).policy.retention_seconds == 30 * DAY
    created = [e for e in _entries(log) if e.action == "collection.create"]
    assert [e.outcome for e in created] == ["InvalidArgument"] * 3 + ["ok", "ok"]
    assert created[-1].details["retention_seconds"] == 30 * DAY
    assert created[-1].details["purposes"] == "access,border"


@pytest.mark.parametrize(
    ("ctx", "error"),
    [
        (RequestContext(purpose="access", legal_basis="consent"), FailedPrecondition),
        (RequestContext(purpose="access", consent_ref="f-1"), FailedPrecondition),
        (RequestContext(consent_ref="f-1", legal_basis="consent"), FailedPrecondition),
        (
            RequestContext(purpose="ads", consent_ref="f-1", legal_basis="consent"),
            FailedPrecondition,
        ),
        (RequestContext(purpose="access", consent_ref="x" * 200, legal_basis="c"), InvalidArgument),
    ],
)
def test_enrolment_needs_consent_purpose_and_legal_basis(world, ctx, error):
    """Missing consent reference, legal basis or purpose refuses enrolment - and is logged."""
    vault, _compliance, log, _, _ = world
    _create(vault)
    with pytest.raises(error):
        vault.enroll("faces", ["a"], _templates(1), ctx)
    assert vault.get_collection("faces", CTX).size == 0
    last = _entries(log)[-1]
    assert (last.action, last.outcome) == ("enroll", error.__name__)


def test_consent_fields_are_logged_with_the_enrolment(world):
    """The consent reference and legal basis are recorded; ids only as pseudonyms."""
    vault, _compliance, log, _, _ = world
    _create(vault)
    vault.enroll("faces", ["alice", "bob"], _templates(2), CTX)
    entry = _entries(log)[-1]
    assert entry.details["consent_ref"] == "f-1" and entry.details["legal_basis"] == "consent"
    assert len(entry.subjects) == 2 and "alice" not in repr(entry)


@pytest.mark.parametrize("purpose", ["", "marketing"])
def test_verify_and_identify_must_state_a_declared_purpose(world, purpose):
    """No purpose, or one the collection did not declare, is FailedPrecondition - logged."""
    vault, _compliance, log, _, _ = world
    _create(vault)
    templates = _templates(3)
    vault.enroll("faces", ["a", "b", "c"], templates, CTX)
    ctx = RequestContext(actor="x", purpose=purpose)
    with pytest.raises(FailedPrecondition):
        vault.verify("faces", "a", templates[0], ctx)
    with pytest.raises(FailedPrecondition):
        vault.identify("faces", templates[:1], 1, ctx)
    assert [(e.action, e.outcome, e.purpose) for e in _entries(log)[-2:]] == [
        ("verify", "FailedPrecondition", purpose),
        ("identify", "FailedPrecondition", purpose),
    ]
    assert vault.verify("faces", "a", templates[0], RequestContext(purpose="border")).match


def test_retention_erases_exactly_the_expired(world):
    """Templates older than the retention period go, one audited erasure each; younger stay."""
    vault, compliance, log, clock, _ = world
    _create(vault, retention_seconds=10 * DAY)
    _create(vault, "forever")
    old, young = _templates(4, 1), _templates(3, 2)
    vault.enroll("faces", ["o1", "o2", "o3", "o4"], old, CTX)
    vault.enroll("forever", ["k1"], old[:1], CTX)
    clock.now += 6 * DAY
    vault.enroll("faces", ["y1", "y2", "y3"], young, CTX)
    vault.delete("faces", "o2", CTX)  # already gone before the deadline
    clock.now += 4 * DAY + 1
    results = {r.collection: r for r in compliance.enforce_retention(SYSTEM_RETENTION)}
    assert sorted(results["faces"].erased) == ["o1", "o3", "o4"]
    assert results["forever"].erased == ()
    # Identify answers only matches (issue 13): each young probe finds its own subject.
    remaining = {m.subject_id for row in vault.identify("faces", young, 7, CTX) for m in row}
    assert remaining == {"y1", "y2", "y3"}
    assert vault.get_collection("forever", CTX).size == 1
    erasures = [e for e in _entries(log) if e.action == "retention.erase"]
    assert len(erasures) == 3 and all(e.actor == "system:retention-scheduler" for e in erasures)
    for erasure in erasures:
        deadline = parse_time(erasure.details["deadline"])
        assert deadline - parse_time(erasure.details["enrolled_at"]) == 10 * DAY * 1e6
        assert deadline <= erasure.time_us
    summary = [e for e in _entries(log) if e.action == "retention.enforce"]
    assert [(s.details["erased"], s.details["collections"]) for s in summary] == [(3, 2)]
    # Nothing left to do a second time.
    assert all(r.erased == () for r in compliance.enforce_retention(SYSTEM_RETENTION))


def test_the_scheduler_runs_enforcement(world):
    """The service's scheduler thread enforces retention on its own."""
    vault, compliance, log, clock, _ = world
    _create(vault, retention_seconds=DAY)
    vault.enroll("faces", ["a"], _templates(1), CTX)
    clock.now += 2 * DAY
    scheduler = RetentionScheduler(compliance, interval=3600)
    scheduler.start()
    scheduler.stop()  # stop waits for the pass started at start()
    assert vault.get_collection("faces", CTX).size == 0
    assert any(e.action == "retention.erase" for e in _entries(log))


def test_delete_and_withdrawal_return_receipts_that_verify_offline(world):
    """Both erasures come with a receipt verifiable with the public key alone."""
    vault, compliance, _, _, verifier = world
    _create(vault)
    vault.enroll("faces", ["a", "b"], _templates(2), CTX)
    deleted = vault.delete("faces", "a", RequestContext(actor="dpo"))
    withdrawn = compliance.withdraw_consent(
        "faces", "b", RequestContext(actor="dpo", consent_ref="f-1")
    )
    first, _ = verify_receipt(deleted.receipt, verifier)
    second, _ = verify_receipt(withdrawn.receipt, verifier)
    assert (first.action, first.purpose) == ("delete", "erasure-request")
    assert (second.action, second.purpose) == ("consent.withdraw", "consent-withdrawn")
    assert second.details["consent_ref"] == "f-1"
    with pytest.raises(NotFound):
        compliance.withdraw_consent("faces", "b", RequestContext(actor="dpo"))
    assert vault.get_collection("faces", CTX).size == 0


def test_the_compliance_guard_must_hold_the_cores_own_log(world, keyset, tmp_path):
    """A guard over another log than the core's audit sink is refused at wiring time, and
    compliance use cases need a core that holds a guard."""
    _, _, log, _, _ = world
    other = tmp_path / "other"
    other.mkdir()
    store = SqliteTemplateStore(other / "vault.db")
    try:
        args = dict(
            store=store,
            keyset=keyset,
            pseudonym_key=DataKey._unsafe_from_material(bytes(32), "t"),
        )
        with pytest.raises(ConfigurationError, match="own audit log"):
            VaultCore(audit=MemoryAuditSink(), compliance=ComplianceGuard(log), **args)
        plain = VaultCore(audit=MemoryAuditSink(), **args)
        assert plain.compliance is None
        with pytest.raises(ConfigurationError, match="ComplianceGuard"):
            ComplianceOps(plain)
    finally:
        store.close()


def test_without_compliance_a_delete_keeps_its_context_and_has_no_receipt(make_core, audit):
    """A core with no guard (in-process tools) erases exactly as asked: no default purpose,
    no receipt - the guard is what adds both."""
    core = make_core()
    _create(core)
    core.enroll("faces", ["a"], _templates(1), CTX)
    result = core.delete("faces", "a", RequestContext(actor="dpo"))
    assert result.erased == 1 and result.receipt is None
    assert audit.events[-1].action == "delete" and audit.events[-1].purpose == ""


def test_with_compliance_a_delete_without_purpose_is_an_erasure_request(world):
    """The guard names an erasure request's purpose and the receipt names the entry."""
    vault, _, log, _, _ = world
    _create(vault)
    vault.enroll("faces", ["a"], _templates(1), CTX)
    result = vault.delete("faces", "a", RequestContext(actor="dpo"))
    entry = _entries(log)[-1]
    assert entry.action == "delete" and entry.purpose == "erasure-request"
    assert result.receipt is not None
