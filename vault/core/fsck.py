"""Consistency check of a stopped vault's data directory (``biovault fsck``).

What must agree after any crash:

* both SQLite files pass SQLite's integrity and foreign-key checks;
* every collection's stored settings parse; every block's header parses and
  names the collection's scheme; every block's ``live`` count equals the
  subjects that point into it, and every subject's slot lies below its block's
  ``next_slot``; no block is empty (an erasure that empties a block drops it);
* with keys: every sealed block opens (AES-GCM authentication under the
  collection's DEK, bound to collection and block number - the CKKS ciphertexts
  inside are *not* decrypted); the audit log's entries hash to its last signed
  checkpoint and an exported bundle verifies entry by entry; and every
  collection holds exactly the subjects the log says were enrolled minus those it
  says were erased (vault/core/ledger.py). The one difference a crash may leave -
  the log's last enrolment(s) of a collection (or one erasure) written but not
  committed - is counted as ``subjects_pending_recovery``, not reported: the next
  start records it. More subjects in the store than the log accounts for is
  always reported (an enrolment missing from the audit trail).

Every wrapped secret of the key catalog (vault/keys/catalog.py) must parse - blob
header and envelope or wrapped key - and, with keys, open.

Wrapped keys (and embedding profiles) of a collection that does not exist (a
crash between storing a new collection's key and its row) are counted, not
reported: they are harmless and a retried create reuses or replaces them.

Nothing is written: the store is opened read-only and the audit log is exported
to a temporary directory.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from vault.audit.bundle import export_bundle
from vault.audit.entry import decode_entry
from vault.audit.log import MerkleAuditLog
from vault.audit.rows import LogRows
from vault.audit.verify import verify_bundle
from vault.blob import SchemeId, split_blob
from vault.core.ledger import replay
from vault.core.protection import PROFILE_META_PREFIX
from vault.errors import VaultError
from vault.keys.auditkey import has_audit_signer, load_or_create_audit_signer
from vault.keys.base import KeyService
from vault.keys.catalog import VAULT_OWNER, KeyCatalog, SecretKind
from vault.keys.datakeys import CollectionDataKeys, key_data
from vault.schemes.ckks_blocks import block_blob_id
from vault.store.base import TemplateStore
from vault.store.integrity import sqlite_problems
from vault.types import CollectionPolicy

__all__ = [
    "FsckReport",
    "check_audit_log",
    "check_log_accounts_for_store",
    "check_sealed_blocks",
    "check_secrets_open",
    "check_store",
]

_SCHEMES = {
    "ckks": {SchemeId.CKKS},
    "cancelable": {SchemeId.CANCELABLE},
    "hybrid": {SchemeId.CKKS, SchemeId.HYBRID},
}


@dataclass
class FsckReport:
    """What was checked and what is wrong (empty ``problems``: consistent)."""

    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=Counter)


def check_store(data_dir: Path | None, store: TemplateStore, report: FsckReport) -> None:
    """Structural checks that need no keys (``data_dir``: the SQLite files' directory,
    None for a PostgreSQL store, whose constraints the server enforces itself)."""
    if data_dir is not None:
        report.problems += sqlite_problems(data_dir / "vault.db")
        if (data_dir / "audit.db").exists():  # a missing log is check_audit_log's finding
            report.problems += sqlite_problems(data_dir / "audit.db")
    records = store.list_collections()
    report.counts["orphan_collection_keys"] = _orphan_keys(store, {r.name for r in records})
    owners = {VAULT_OWNER} | {r.name for r in records}
    for owner, problem in KeyCatalog(store, None).damaged():
        if owner in owners:  # an orphan's key is counted above, not reported
            report.problems.append(f"wrapped secret {problem}")
    for record in records:
        report.counts["collections"] += 1
        where = f"collection {record.name!r}"
        try:
            CollectionPolicy.from_json(record.config_json)
        except VaultError as error:
            report.problems.append(f"{where}: {error}")
        subjects = store.list_subjects(record.name)
        report.counts["subjects"] += len(subjects)
        per_block = Counter(s.block_no for s in subjects)
        next_slot: dict[int, int] = {}
        for block in store.iter_blocks(record.name):
            report.counts["blocks"] += 1
            next_slot[block.block_no] = block.next_slot
            try:
                header, _ = split_blob(block.blob)
            except VaultError as error:
                report.problems.append(f"{where} block {block.block_no}: {error}")
                continue
            if header.scheme not in _SCHEMES.get(record.mode, set()):
                report.problems.append(
                    f"{where} block {block.block_no}: header names scheme "
                    f"{header.scheme.name}, not the collection's {record.mode}"
                )
            if block.live != per_block.get(block.block_no, 0):
                report.problems.append(
                    f"{where} block {block.block_no}: live count {block.live} but "
                    f"{per_block.get(block.block_no, 0)} subjects point into it"
                )
            if block.live == 0:
                report.problems.append(f"{where} block {block.block_no}: empty but not dropped")
        for subject in subjects:
            limit = next_slot.get(subject.block_no)
            if limit is None:
                report.problems.append(f"{where}: a subject points to missing block")
            elif subject.slot >= limit:
                report.problems.append(
                    f"{where} block {subject.block_no}: a subject's slot {subject.slot} "
                    f"is beyond next_slot {limit}"
                )


def _orphan_keys(store: TemplateStore, collections: set[str]) -> int:
    orphans = sum(
        row.owner not in collections
        for kind in (SecretKind.DATA_KEY, SecretKind.TRANSFORM_SEED)
        for row in store.list_secrets(kind.value)
    )
    for key in key_data(store).list_meta_keys(PROFILE_META_PREFIX):
        orphans += key[len(PROFILE_META_PREFIX) :] not in collections
    return orphans


def check_secrets_open(store: TemplateStore, keys: KeyService, report: FsckReport) -> None:
    """Every wrapped secret of a collection that exists (or of the vault) unwraps."""
    catalog = KeyCatalog(store, keys)
    owners = {VAULT_OWNER} | {r.name for r in store.list_collections()}
    for record in catalog.records():
        if record.owner not in owners:
            continue
        try:
            catalog.open(record)
        except VaultError as error:
            report.problems.append(f"{record.kind.value} of {record.owner!r}: {error}")
        else:
            report.counts["secrets_opened"] += 1


def check_sealed_blocks(store: TemplateStore, keys: KeyService, report: FsckReport) -> None:
    """Every wrapped secret opens and every block opens under its collection's DEK."""
    check_secrets_open(store, keys, report)
    try:
        data_keys = CollectionDataKeys(store, keys)
    except VaultError as error:
        report.problems.append(f"data keys: {error}")
        return
    for record in store.list_collections():
        try:
            sealer = data_keys.sealer(record.name)
        except VaultError as error:
            report.problems.append(f"collection {record.name!r}: data key: {error}")
            continue
        for block in store.iter_blocks(record.name):
            try:
                sealer.open(block.blob, blob_id=block_blob_id(block.block_no))
            except VaultError as error:
                report.problems.append(f"collection {record.name!r}: {error}")
            else:
                report.counts["sealed_blocks_opened"] += 1


def check_audit_log(
    log_at: Path | LogRows, store: TemplateStore, keys: KeyService, report: FsckReport
) -> None:
    """The audit log matches its last signed checkpoint and exports a bundle that verifies.

    ``log_at`` is the log's SQLite file (``audit.db``), or its rows elsewhere; a
    data directory path (holding ``audit.db``) is accepted too.
    """
    path: Path | LogRows = log_at
    if isinstance(log_at, Path) and log_at.is_dir():
        path = log_at / "audit.db"
    if not has_audit_signer(store):
        exists = path.exists() if isinstance(path, Path) else path.count() > 0
        if exists:
            report.problems.append("audit.db exists but the audit signing key is missing")
        return
    try:
        signer, _ = load_or_create_audit_signer(store, keys)
        log = MerkleAuditLog(path, signer, create=False)
    except VaultError as error:
        report.problems.append(f"audit log: {error}")
        return
    try:
        with tempfile.TemporaryDirectory(prefix="biovault-fsck-") as tmp:
            bundle = Path(tmp)
            for name, data in export_bundle(log):
                with (bundle / name).open("ab") as handle:
                    handle.write(data)
            verified = verify_bundle(bundle, log.verifier_key)
            report.counts["audit_entries_verified"] = verified.size
        check_log_accounts_for_store(log, store, report)
    except VaultError as error:
        report.problems.append(f"audit log: {error}")
    finally:
        log.close()


def check_log_accounts_for_store(
    log: MerkleAuditLog, store: TemplateStore, report: FsckReport
) -> None:
    """Every collection's stored subjects equal enrolled minus erased in the log."""
    ledgers = replay(decode_entry(data) for _, data, _ in log.iter_rows(0, log.size))
    for record in store.list_collections():
        stored = store.count_subjects(record.name)
        ledger = ledgers.get(record.name)
        logged = ledger.live if ledger is not None else 0
        missing = logged - stored
        # At most one erasure per collection runs at a time (its writer lock).
        pending = set() if ledger is None else ledger.pending_candidates()
        if missing == 0:
            continue
        if missing > 0 and (missing in pending or missing - 1 in pending):
            report.counts["subjects_pending_recovery"] += missing
            continue
        report.problems.append(
            f"collection {record.name!r}: the store holds {stored} subject(s) but the audit "
            f"log accounts for {logged} (enrolled minus erased)"
        )
