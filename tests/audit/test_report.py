"""The audit report: counts by action and purpose, erasures with deadlines, overdue subjects."""

from tests.audit.conftest import write_bundle
from vault.audit.base import AuditEvent
from vault.audit.bundle import export_bundle
from vault.audit.report import render_markdown, summarize
from vault.audit.verify import verify_bundle

T0 = 1_750_000_000.0


def _event(t, action, *, subjects=(), outcome="ok", purpose="access", **details):
    return AuditEvent(
        time=T0 + t,
        actor="station",
        action=action,
        collection="faces",
        outcome=outcome,
        purpose=purpose,
        subjects=tuple(subjects),
        details=details,
    )


def test_report_counts_erasures_deadlines_and_overdue(make_log, signer, tmp_path):
    """Counts match the entries; an erasure shows its deadline; a kept subject is overdue."""
    log = make_log()
    for e in [
        _event(0, "service.start", purpose="", audit_key="created"),
        _event(1, "collection.create", purposes="access,border", identification=False,
               retention_seconds=100.0),
        _event(2, "enroll", subjects=["aa", "bb", "cc"], count=3, consent_ref="f-1"),
        _event(3, "verify", decision="match"),
        _event(4, "verify", outcome="FailedPrecondition", purpose="marketing"),
        _event(50, "delete", subjects=["aa"], purpose="erasure-request"),
        _event(150, "retention.erase", subjects=["bb"], purpose="retention",
               enrolled_at="2025-06-15T15:06:42.000000Z",
               deadline="2025-06-15T15:08:22.000000Z"),
        _event(151, "retention.enforce", purpose="retention", erased=1),
        _event(160, "keys.rotate_kek", purpose="", key_version=2),
    ]:  # fmt: skip
        log.append(e)
    bundle = verify_bundle(write_bundle(export_bundle(log), tmp_path / "b"), signer.verifier_key)
    summary = summarize(bundle)
    assert summary["actions"]["verify"] == {
        "total": 2,
        "outcomes": {"ok": 1, "FailedPrecondition": 1},
    }
    assert summary["purposes"]["marketing"] == {"verify": 1}
    assert summary["refusals"] == [
        {"action": "verify", "outcome": "FailedPrecondition", "count": 1}
    ]
    faces = summary["collections"]["faces"]
    assert (faces["purposes"], faces["enrolled"], faces["erased"]) == (["access", "border"], 3, 2)
    erasures = {x["subject"]: x for x in summary["erasures"]}
    assert erasures["aa"]["late_seconds"] == 0.0  # erased on request, before the deadline
    assert erasures["bb"]["late_seconds"] == 48.0  # retention run 48 s after expiry
    overdue = summary["retention"]["overdue"]
    assert [o["subject"] for o in overdue] == ["cc"] and summary["retention"]["runs"] == 1
    assert [k["action"] for k in summary["key_events"]] == ["service.start", "keys.rotate_kek"]
    markdown = render_markdown(summary)
    assert "| faces | access, border | no | 1.66667 min | 3 | 2 |" in markdown
    assert "templates past their deadline and not erased: 1" in markdown


def test_a_revoked_old_version_template_counts_as_erased(make_log, signer, tmp_path):
    """keys rotate --revoke-old erasures are erasures: counted, listed, never 'overdue'."""
    log = make_log()
    for e in [
        _event(1, "collection.create", purposes="access", retention_seconds=100.0),
        _event(2, "enroll", subjects=["aa", "bb"], count=2, consent_ref="f-1"),
        _event(3, "keys.rotate.cancelable", purpose="", key_version=2),
        _event(4, "keys.revoke", subjects=["aa"], purpose="", key_version=2),
        _event(4, "keys.revoke", subjects=["bb"], purpose="", key_version=2),
        _event(500, "verify", decision="no_match"),
    ]:  # fmt: skip
        log.append(e)
    bundle = verify_bundle(write_bundle(export_bundle(log), tmp_path / "b"), signer.verifier_key)
    summary = summarize(bundle)
    assert summary["collections"]["faces"]["erased"] == 2
    assert sorted(x["subject"] for x in summary["erasures"]) == ["aa", "bb"]
    assert summary["retention"]["overdue"] == []
