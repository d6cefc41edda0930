"""The core's audit entries name their act with an AuditAction member."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

import vault
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


_WRITERS = {"_record", "_audited", "audited", "_append_event", "append_event", "_append_listed"}


def _bare_actions(source: str) -> list[int]:
    """Lines where an audit writer or an AuditEvent gets its action as a string literal
    or an f-string instead of an AuditAction member."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name == "AuditEvent":
            given = [k.value for k in node.keywords if k.arg == "action"]
        elif name in _WRITERS:
            given = node.args[:1] + [k.value for k in node.keywords if k.arg == "action"]
        else:
            continue
        if any(
            isinstance(v, ast.JoinedStr)
            or (isinstance(v, ast.Constant) and isinstance(v.value, str))
            for v in given
        ):
            lines.append(node.lineno)
    return lines


def test_the_scan_sees_a_bare_action() -> None:
    """The check can fail: literal and f-string actions are both found."""
    assert _bare_actions('self._record("keys.status", ctx)') == [1]
    assert _bare_actions('AuditEvent(time=0, action=f"keys.{kind}")') == [1]
    assert _bare_actions("self._record(AuditAction.KEYS_STATUS, ctx)") == []


def test_no_module_of_vault_writes_a_bare_action_string() -> None:
    """Key operations, compliance and the core all name their acts with AuditAction."""
    root = Path(vault.__file__).resolve().parent
    bare = {
        f"{path.relative_to(root)}:{line}"
        for path in root.rglob("*.py")
        if "api" not in path.relative_to(root).parts
        for line in _bare_actions(path.read_text(encoding="utf-8"))
    }
    assert bare == set()
