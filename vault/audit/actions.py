"""The names of audited acts: one enum, so a typo cannot start a new kind of entry.

The values are the strings stored in every audit entry since the log began; they
are part of the signed log, so they never change (old logs must still verify and
reports must still recognise them). ``AuditAction`` is a ``StrEnum``: a member is
the string it stands for, in comparisons and in JSON alike.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["ERASURE_ACTIONS", "AuditAction"]


class AuditAction(enum.StrEnum):
    """Every action the vault writes to its audit log."""

    COLLECTION_CREATE = "collection.create"
    ENROLL = "enroll"
    #: Entries of an enrolment whose store commit failed, taken back.
    ENROLL_ROLLBACK = "enroll.rollback"
    #: Subjects a crash left logged but never stored, found at the next start.
    RECONCILE_ABSENT = "reconcile.absent"
    VERIFY = "verify"
    IDENTIFY = "identify"
    DELETE = "delete"
    CONSENT_WITHDRAW = "consent.withdraw"
    RETENTION_ENFORCE = "retention.enforce"
    RETENTION_ERASE = "retention.erase"
    KEYS_STATUS = "keys.status"
    KEYS_ROTATE_KEK = "keys.rotate_kek"
    KEYS_ROTATE_KEK_START = "keys.rotate_kek.start"
    KEYS_ROTATE_DEK = "keys.rotate_dek"
    KEYS_ROTATE_DEK_START = "keys.rotate_dek.start"
    KEYS_TRIM_KEK = "keys.trim_kek"
    KEYS_ROTATE_CANCELABLE = "keys.rotate.cancelable"
    #: Erasure of a template under a superseded transform key.
    KEYS_REVOKE = "keys.revoke"
    SERVICE_START = "service.start"
    ACCESS_REFUSED = "access.refused"
    AUDIT_EXPORT = "audit.export"


#: Acts that erase a subject's template (each one gets a receipt).
ERASURE_ACTIONS: Final = frozenset(
    {
        AuditAction.DELETE,
        AuditAction.CONSENT_WITHDRAW,
        AuditAction.RETENTION_ERASE,
        AuditAction.KEYS_REVOKE,
    }
)
