"""Use cases of the core over real TenSEAL and SQLite: answers, atomicity, audit."""

import numpy as np
import pytest

from tests.support.policy import with_policy
from tests.support.synthetic import identities, samples
from vault import deadline
from vault.errors import (
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    TemplateError,
)
from vault.types import CollectionSpec, ProtectionMode, RequestContext

DIM = 32
CTX = RequestContext(
    actor="tester", purpose="access", consent_ref="form-1", legal_basis="gdpr-art9-2a"
)


def _spec(name="faces", **kw):
    kw.setdefault("purposes", ("access",))
    kw.setdefault("max_top_k", 1000)  # some tests list the whole gallery (default cap 10)
    return CollectionSpec(
        name=name, mode=ProtectionMode.CKKS, dim=DIM, allow_identification=True, **with_policy(**kw)
    )


@pytest.fixture
def enrolled(make_core):
    rng = np.random.default_rng(0)
    core = make_core()
    core.create_collection(_spec(), CTX)
    templates = identities(40, DIM, rng)
    ids = [f"person-{i}" for i in range(40)]
    core.enroll("faces", ids, templates.astype(np.float32), CTX)
    return core, templates, ids, rng


def test_identify_and_verify_answer_correctly(enrolled):
    """Genuine probes rank their subject first and verify; impostors don't verify."""
    core, templates, ids, rng = enrolled
    probes = samples(templates, rng, spread=0.3)
    results = core.identify("faces", probes, 1, CTX)
    assert [r[0].subject_id for r in results] == ids
    assert core.verify("faces", "person-3", probes[3], CTX).match
    assert not core.verify("faces", "person-3", probes[4], CTX).match


def test_unknown_subject_verifies_like_a_mismatch(enrolled):
    """Verifying an unknown id answers exactly like a failed match: a rounded score
    below the threshold from a decoy, the same on every call (issue 13)."""
    core, templates, _, _ = enrolled
    result = core.verify("faces", "nobody", templates[0], CTX)
    assert not result.match and result.score is not None and result.score < 0.30
    assert result.score == round(result.score, 2)
    assert core.verify("faces", "nobody", templates[0], CTX) == result
    assert core.decoy_scorings == 2


def test_delete_removes_subject_and_survives_restart(enrolled, make_core):
    """A deleted id never comes back, also after reopening the store."""
    core, templates, _, _ = enrolled
    core.delete("faces", "person-7", CTX)
    # Identify answers only matches (issue 13): every probe finds only its own subject.
    hits = {m.subject_id for row in core.identify("faces", templates, 40, CTX) for m in row}
    assert "person-7" not in hits and len(hits) == 39
    with pytest.raises(NotFound):
        core.delete("faces", "person-7", CTX)
    reopened = make_core()
    assert reopened.identify("faces", templates, 3, CTX) == core.identify(
        "faces", templates, 3, CTX
    )


def test_duplicate_ids_change_nothing(enrolled):
    """Enrolling an existing id is refused and the collection size is unchanged."""
    core, templates, _, _ = enrolled
    with pytest.raises(AlreadyExists):
        core.enroll("faces", ["new-1", "person-0"], templates[:2], CTX)
    assert core.get_collection("faces", CTX).size == 40
    assert core.verify("faces", "new-1", templates[0], CTX).match is False


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c, t: c.enroll("faces", ["x"], t[:1, :16], CTX), TemplateError),
        (lambda c, t: c.enroll("faces", ["x"], np.full((1, DIM), np.nan), CTX), TemplateError),
        (lambda c, t: c.enroll("faces", [], np.empty((0, DIM)), CTX), TemplateError),
        (lambda c, t: c.enroll("faces", ["x", "x"], t[:2], CTX), InvalidArgument),
        (lambda c, t: c.enroll("faces", ["x"], t[:2], CTX), InvalidArgument),
        (lambda c, t: c.enroll("nope", ["x"], t[:1], CTX), NotFound),
        (lambda c, t: c.identify("faces", t[:1], 0, CTX), InvalidArgument),
        (lambda c, t: c.identify("faces", t[:1].astype(np.int64), 1, CTX), TemplateError),
        (lambda c, t: c.verify("faces", "person-1", t[:2], CTX), InvalidArgument),
    ],
)
def test_bad_input_changes_nothing(enrolled, call, error):
    """Each bad request raises its error and leaves the collection as it was."""
    core, templates, _, _ = enrolled
    before = core.identify("faces", templates[:3], 5, CTX)
    with pytest.raises(error):
        call(core, templates)
    assert core.get_collection("faces", CTX).size == 40
    assert core.identify("faces", templates[:3], 5, CTX) == before


def test_identification_must_be_enabled(make_core):
    """A collection without --allow-identification refuses 1:N."""
    core = make_core()
    core.create_collection(
        CollectionSpec("one2one", ProtectionMode.CKKS, DIM, purposes=("access",)), CTX
    )
    core.enroll("one2one", ["a"], identities(1, DIM, np.random.default_rng(1)), CTX)
    with pytest.raises(FailedPrecondition):
        core.identify("one2one", np.ones((1, DIM)), 1, CTX)


def test_collection_rules(make_core):
    """Names, dimensions, modes and duplicates are checked at creation."""
    core = make_core()
    core.create_collection(_spec("a"), CTX)
    with pytest.raises(AlreadyExists):
        core.create_collection(_spec("a"), CTX)
    with pytest.raises(InvalidArgument):
        core.create_collection(_spec("bad name!"), CTX)
    with pytest.raises(InvalidArgument):
        core.create_collection(CollectionSpec("z", ProtectionMode.CKKS, 0, purposes=("a",)), CTX)
    with pytest.raises(FailedPrecondition):
        core.create_collection(
            CollectionSpec("c", ProtectionMode.CANCELABLE, DIM, purposes=("a",)), CTX
        )


def test_purpose_outside_declared_list_is_refused(make_core):
    """A declared purpose list refuses other purposes."""
    core = make_core()
    core.create_collection(_spec("p", purposes=("access",)), CTX)
    with pytest.raises(FailedPrecondition):
        core.identify("p", np.ones((1, DIM)), 1, RequestContext(purpose="marketing"))


def test_audit_events_are_written_without_raw_ids(enrolled, audit):
    """Every act is audited; subject ids appear only as pseudonyms."""
    core, templates, _, _ = enrolled
    core.verify("faces", "person-1", templates[1], CTX)
    with pytest.raises(NotFound):
        core.delete("faces", "ghost", CTX)
    actions = [(e.action, e.outcome) for e in audit.events]
    assert ("collection.create", "ok") in actions and ("enroll", "ok") in actions
    assert ("verify", "ok") in actions and ("delete", "NotFound") in actions
    text = repr(audit.events)
    assert "person-1" not in text and "ghost" not in text


def test_identify_runs_while_an_enrolment_is_encrypting(enrolled, monkeypatch):
    """A writer busy encrypting holds only the writer lock: readers still get answers."""
    import threading

    from vault.schemes.ckks import CkksCollection

    core, templates, ids, _ = enrolled
    planning, release = threading.Event(), threading.Event()
    original = CkksCollection.plan_enrollment

    def slow_plan(self, *args, **kwargs):
        planning.set()
        assert release.wait(30)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CkksCollection, "plan_enrollment", slow_plan)
    writer = threading.Thread(
        target=core.enroll, args=("faces", ["late"], templates[:1], CTX), daemon=True
    )
    writer.start()
    assert planning.wait(30)
    answer = core.identify("faces", templates[:2], 1, CTX)  # must not wait for the writer
    assert [r[0].subject_id for r in answer] == ids[:2]
    release.set()
    writer.join(30)
    assert core.get_collection("faces", CTX).size == 41


def test_work_past_the_callers_deadline_is_refused_and_changes_nothing(enrolled, make_core, audit):
    """An expired deadline stops enrol, erase and scoring before they start; audited."""
    core, templates, ids, _ = enrolled
    with deadline.bounded_by(0.0):
        with pytest.raises(DeadlineExceeded, match="before the enrolment was stored"):
            core.enroll("faces", ["late"], templates[:1].astype(np.float32), CTX)
        with pytest.raises(DeadlineExceeded, match="before the erasure was stored"):
            core.delete("faces", ids[0], CTX)
        with pytest.raises(DeadlineExceeded, match="before scoring"):
            core.identify("faces", templates[:1], 1, CTX)
    assert [e.outcome for e in audit.events[-3:]] == ["DeadlineExceeded"] * 3
    reopened = make_core()
    assert reopened.get_collection("faces", CTX).size == len(ids)
    assert reopened.verify("faces", ids[0], templates[0], CTX).match
