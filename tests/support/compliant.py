"""Test helper: a core wired with compliance on a real SQLite store and a real Merkle log."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vault.audit.log import MerkleAuditLog
from vault.audit.note import NoteSigner, NoteVerifier
from vault.core.compliance import ComplianceOps
from vault.core.guard import ComplianceGuard
from vault.core.vault import VaultCore
from vault.he.keyset import CkksKeySet
from vault.keys.datakey import DataKey
from vault.store.sqlite import SqliteTemplateStore


class SettableClock:
    """A clock the test moves by hand, shared by the core and the audit log."""

    def __init__(self, now: float = 1_760_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def compliant_vault(
    tmp_path: Path, keyset: CkksKeySet, clock: Any, label: str
) -> tuple[VaultCore, ComplianceOps, MerkleAuditLog, SqliteTemplateStore, NoteVerifier]:
    """A core with its compliance guard and use cases, as the service wires them, on a
    real SQLite store and a real Merkle log under ``tmp_path``.

    Returns:
        (core, compliance, log, store, verifier): close ``log`` and ``store`` when done.
    """
    signer = NoteSigner.generate(f"biovault.local/audit/{label}")
    log = MerkleAuditLog(tmp_path / "audit.db", signer, clock=clock)
    store = SqliteTemplateStore(tmp_path / "vault.db")
    vault = VaultCore(
        store=store,
        keyset=keyset,
        audit=log,
        compliance=ComplianceGuard(log),
        pseudonym_key=DataKey._unsafe_from_material(os.urandom(32), "t"),
        clock=clock,
    )
    return vault, ComplianceOps(vault), log, store, NoteVerifier(signer.verifier_key)
