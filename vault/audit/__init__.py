"""Audit trail: every security-relevant act, recorded durably before it returns.

:class:`MerkleAuditLog` keeps the entries in an RFC 6962 Merkle tree with an
Ed25519-signed C2SP checkpoint per entry; :func:`verify_bundle` checks an export
offline with nothing but the log's public key.
"""

from vault.audit.base import AuditEvent, AuditSink
from vault.audit.log import MerkleAuditLog
from vault.audit.verify import BundleInvalid, VerifiedBundle, verify_bundle

__all__ = [
    "AuditEvent",
    "AuditSink",
    "BundleInvalid",
    "MerkleAuditLog",
    "VerifiedBundle",
    "verify_bundle",
]
