"""AuditAction: one enum of audited acts whose values are the strings logs already hold."""

from __future__ import annotations

from vault.audit.actions import ERASURE_ACTIONS, AuditAction
from vault.audit.base import AuditEvent
from vault.audit.entry import decode_entry, encode_entry, entry_from_event

# The strings entries have carried since the log began: a stored log must still verify.
HISTORIC = {
    "COLLECTION_CREATE": "collection.create",
    "ENROLL": "enroll",
    "ENROLL_ROLLBACK": "enroll.rollback",
    "RECONCILE_ABSENT": "reconcile.absent",
    "VERIFY": "verify",
    "IDENTIFY": "identify",
    "DELETE": "delete",
    "CONSENT_WITHDRAW": "consent.withdraw",
    "RETENTION_ENFORCE": "retention.enforce",
    "RETENTION_ERASE": "retention.erase",
    "KEYS_STATUS": "keys.status",
    "KEYS_ROTATE_KEK": "keys.rotate_kek",
    "KEYS_ROTATE_KEK_START": "keys.rotate_kek.start",
    "KEYS_ROTATE_DEK": "keys.rotate_dek",
    "KEYS_ROTATE_DEK_START": "keys.rotate_dek.start",
    "KEYS_TRIM_KEK": "keys.trim_kek",
    "KEYS_ROTATE_CANCELABLE": "keys.rotate.cancelable",
    "KEYS_REVOKE": "keys.revoke",
    "SERVICE_START": "service.start",
    "ACCESS_REFUSED": "access.refused",
    "AUDIT_EXPORT": "audit.export",
}


def test_values_are_the_historic_strings() -> None:
    """Every member's value is the string older code wrote; no member was renamed."""
    assert {m.name: m.value for m in AuditAction} == HISTORIC
    assert {"delete", "consent.withdraw", "retention.erase", "keys.revoke"} == ERASURE_ACTIONS


def test_an_enum_action_encodes_to_the_same_bytes_as_its_string() -> None:
    """Entries written with a member are byte-identical to those written with the string."""
    for action in AuditAction:
        by_enum = AuditEvent(time=1.0, actor="a", action=action, collection="c", outcome="ok")
        by_text = AuditEvent(time=1.0, actor="a", action=action.value, collection="c", outcome="ok")
        data = encode_entry(entry_from_event(0, 1, by_enum))
        assert data == encode_entry(entry_from_event(0, 1, by_text))
        assert decode_entry(data).action == action

