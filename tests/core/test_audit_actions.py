"""The core's audit entries name their act with an AuditAction member."""

from __future__ import annotations

import numpy as np

from tests.support.synthetic import identities
from vault.audit.actions import AuditAction
from vault.types import CollectionSpec, ProtectionMode, RequestContext


def test_the_core_writes_only_audit_actions(make_core, audit) -> None:
    """Each use case's entry carries an AuditAction member, not a bare string."""
    ctx = RequestContext(actor="t", purpose="access", consent_ref="c", legal_basis="consent")
    core = make_core()
    core.create_collection(CollectionSpec("f", ProtectionMode.CKKS, 8, True, ("access",)), ctx)
    templates = identities(3, 8, np.random.default_rng(0)).astype(np.float32)
    core.enroll("f", ["a", "b", "c"], templates, ctx)
    core.verify("f", "a", templates[0], ctx)
    core.identify("f", templates[:1], 2, ctx)
    core.delete("f", "b", ctx)
    written = [e.action for e in audit.events]
    assert written == ["collection.create", "enroll", "verify", "identify", "delete"]
    assert all(type(action) is AuditAction for action in written)
