"""Test helper: a CompliantVault on a real SQLite store and a real Merkle audit log."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vault.audit.log import MerkleAuditLog
from vault.audit.note import NoteSigner, NoteVerifier
from vault.core.compliance import CompliantVault
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
) -> tuple[CompliantVault, MerkleAuditLog, SqliteTemplateStore, NoteVerifier]:
    """A CompliantVault on a real SQLite store and a real Merkle log under ``tmp_path``.

    Returns:
        (vault, log, store, verifier): close ``log`` and ``store`` when done.
    """
    signer = NoteSigner.generate(f"biovault.local/audit/{label}")
    log = MerkleAuditLog(tmp_path / "audit.db", signer, clock=clock)
    store = SqliteTemplateStore(tmp_path / "vault.db")
    vault = CompliantVault(
        store=store,
        keyset=keyset,
        log=log,
        pseudonym_key=DataKey._unsafe_from_material(os.urandom(32), "t"),
        clock=clock,
    )
    return vault, log, store, NoteVerifier(signer.verifier_key)
