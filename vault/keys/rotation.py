"""Crash-safe KEK and DEK rotation: the algorithms (orchestration is in keyops).

Both rotations keep a small journal in the store's metadata and make every
change a compare-and-swap, so a process killed at any instant leaves a state
that (a) every blob can still be opened in and (b) a rerun finishes:

**KEK** (``keys.rotation.kek``)::

    journal "rotating" (from = latest KEK version)
    -> Transit rotate, unless latest > from already (a crash after the rotate)
    -> journal "rewrapping" (to = latest)
    -> rewrap every stored wrapped key older than `to` (batch rewrap, CAS per key)
    -> under the DEK lock: re-check nothing is older, raise min_decryption_version
    -> journal "done"

Old KEK versions stay usable until the very last step, so a crash anywhere
before it leaves every key unwrappable; raising the minimum is idempotent.

**DEK** (``keys.rotation.dek``), per collection::

    journal (from = current DEK version)
    -> new DEK stored (wrapped) and made current - or found: a crash after storing
    -> reseal every block whose header names an older version (CAS per block;
       only the AES-GCM layer changes, the CKKS ciphertexts are copied as they are)
    -> retire old versions only when, in the same transaction, no block names them
    -> the key set's envelope gets a fresh DEK too, and so does every other sealed
       secret of the key catalog (whole-directory rotations)
    -> journal "done"

Enrolment and erasure keep running: they seal with whatever DEK is current, and
a block they rewrite under an old version is caught by the retire check.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vault.blob import HEADER_SIZE, BlobHeader
from vault.errors import IntegrityError, StorageError
from vault.he.params import CkksParams
from vault.keys.base import KeyService
from vault.keys.catalog import KeyCatalog, SecretKind
from vault.keys.datakeys import CollectionDataKeys, key_data
from vault.keys.inventory import replace_wrapped, scan_wrapped
from vault.keys.keyring import reseal_keyset
from vault.keys.sealing import BlobSealer, block_blob_id
from vault.store.base import TemplateStore

__all__ = [
    "JOURNAL_KEYS",
    "RotationOptions",
    "RotationProgress",
    "RotationSummary",
    "load_journal",
    "rotate_dek",
    "rotate_kek",
    "save_journal",
]

JOURNAL_KEYS = {"kek": "keys.rotation.kek", "dek": "keys.rotation.dek"}
# Concurrent writers can add work between two passes; a few passes always settle it.
_MAX_PASSES = 8
_MAX_CAS_ATTEMPTS = 8


@dataclass(frozen=True)
class RotationOptions:
    """How to run a rotation.

    Args:
        kind: ``"kek"`` or ``"dek"``.
        resume_only: Only finish an interrupted rotation; a no-op if none is pending.
        collections: DEK rotation scope (empty: every collection and the key set).
        batch_size: Wrapped keys per Transit batch rewrap call.
        throttle: Seconds to pause after each batch / block (limits I/O load).
        trim_after: KEK: delete old KEK versions this many seconds after success
            (None: never - they stay, disabled for decryption).
    """

    kind: str
    resume_only: bool = False
    collections: tuple[str, ...] = ()
    batch_size: int = 128
    throttle: float = 0.0
    trim_after: float | None = None


@dataclass(frozen=True)
class RotationProgress:
    """One progress report of a running rotation."""

    kind: str
    phase: str
    done: int
    total: int
    detail: str = ""


@dataclass(frozen=True)
class RotationSummary:
    """What a rotation did; ``remaining_old`` > 0 means it could not finish."""

    kind: str
    key_version: int
    from_version: int
    rewrapped: int
    remaining_old: int
    resumed: bool
    noop: bool
    resealed: int = 0
    collections: dict[str, int] = field(default_factory=dict)
    keyset_resealed: bool = False
    trim_at: float | None = None
    started_at: float = 0.0
    finished_at: float = 0.0


Progress = Callable[[RotationProgress], None]


def load_journal(store: TemplateStore, kind: str) -> dict[str, Any] | None:
    """The stored journal of the last ``kind`` rotation, or None."""
    raw = store.get_meta(JOURNAL_KEYS[kind])
    if raw is None:
        return None
    try:
        journal = json.loads(raw)
    except ValueError:
        raise IntegrityError(f"the {kind} rotation journal is not valid JSON") from None
    if not isinstance(journal, dict) or "state" not in journal:
        raise IntegrityError(f"the {kind} rotation journal is malformed")
    return journal


def save_journal(store: TemplateStore, kind: str, journal: dict[str, Any]) -> None:
    """Persist a rotation journal (atomically replaces the previous one)."""
    body = json.dumps(journal, sort_keys=True).encode()
    store.put_meta(JOURNAL_KEYS[kind], body, overwrite=True)


# --- KEK ------------------------------------------------------------------------
def rotate_kek(
    store: TemplateStore,
    keys: KeyService,
    data_keys: CollectionDataKeys,
    options: RotationOptions,
    progress: Progress,
    clock: Callable[[], float] = time.time,
) -> RotationSummary:
    """Rotate the Transit KEK and rewrap every stored wrapped key (resumable)."""
    journal = load_journal(store, "kek")
    resumed = journal is not None and journal["state"] != "done"
    if not resumed:
        latest = keys.kek_info().latest_version
        if options.resume_only:
            remaining = sum(1 for e in scan_wrapped(store, keys) if e.kek_version < latest)
            return RotationSummary("kek", latest, latest, 0, remaining, False, True)
        journal = {
            "state": "rotating",
            "from_version": latest,
            "to_version": None,
            "started_at": clock(),
            "rewrapped": 0,
            "trim_after": options.trim_after,
        }
        save_journal(store, "kek", journal)
    assert journal is not None
    if journal["state"] == "rotating":
        latest = keys.kek_info().latest_version
        if latest <= journal["from_version"]:
            progress(RotationProgress("kek", "rotate", 0, 1, "Transit rotate"))
            latest = keys.rotate_kek()
        journal.update(state="rewrapping", to_version=latest)
        save_journal(store, "kek", journal)
        progress(RotationProgress("kek", "rotate", 1, 1, f"KEK version {latest}"))
    target = int(journal["to_version"])
    rewrapped, remaining = 0, 0
    for _ in range(_MAX_PASSES):
        done, remaining = _rewrap_pass(store, keys, target, options, progress)
        rewrapped += done
        if remaining:
            if done == 0:
                break  # what is left is rejected by Transit: retrying will not help
            continue
        with data_keys.lock:
            # No DEK can be generated and stored meanwhile, so "nothing older" holds
            # at the moment old versions stop decrypting.
            if any(e.kek_version < target for e in scan_wrapped(store, keys)):
                continue
            progress(RotationProgress("kek", "retire", 0, 1, f"min_decryption_version {target}"))
            keys.retire_kek_versions(target)
        finished = clock()
        journal.update(
            state="done",
            rewrapped=int(journal.get("rewrapped", 0)) + rewrapped,
            finished_at=finished,
        )
        if journal.get("trim_after") is not None:
            journal["trim_at"] = finished + float(journal["trim_after"])
            journal["trimmed"] = False
        save_journal(store, "kek", journal)
        progress(RotationProgress("kek", "retire", 1, 1, "done"))
        return _kek_summary(journal, rewrapped, 0, resumed)
    journal["rewrapped"] = int(journal.get("rewrapped", 0)) + rewrapped
    save_journal(store, "kek", journal)
    return _kek_summary(journal, rewrapped, remaining, resumed)


def _kek_summary(
    journal: dict[str, Any], rewrapped: int, remaining: int, resumed: bool
) -> RotationSummary:
    return RotationSummary(
        kind="kek",
        key_version=int(journal["to_version"]),
        from_version=int(journal["from_version"]),
        rewrapped=rewrapped,
        remaining_old=remaining,
        resumed=resumed,
        noop=False,
        trim_at=journal.get("trim_at"),
        started_at=float(journal.get("started_at", 0.0)),
        finished_at=float(journal.get("finished_at", 0.0)),
    )


def _rewrap_pass(
    store: TemplateStore,
    keys: KeyService,
    target: int,
    options: RotationOptions,
    progress: Progress,
) -> tuple[int, int]:
    old = [e for e in scan_wrapped(store, keys) if e.kek_version < target]
    rewrapped = 0
    size = max(1, options.batch_size)
    for start in range(0, len(old), size):
        batch = old[start : start + size]
        for entry, new in zip(
            batch, keys.rewrap_data_keys([e.wrapped for e in batch]), strict=True
        ):
            if new is not None and keys.wrapped_key_version(new) >= target:
                rewrapped += replace_wrapped(store, entry, new, keys)
        progress(RotationProgress("kek", "rewrap", start + len(batch), len(old)))
        if options.throttle:
            time.sleep(options.throttle)
    remaining = sum(1 for e in scan_wrapped(store, keys) if e.kek_version < target)
    return rewrapped, remaining


# --- DEK ------------------------------------------------------------------------
def rotate_dek(
    store: TemplateStore,
    keys: KeyService,
    data_keys: CollectionDataKeys,
    options: RotationOptions,
    progress: Progress,
    *,
    keyset_params: CkksParams | None,
    clock: Callable[[], float] = time.time,
) -> RotationSummary:
    """Give collections (and the key set) fresh DEKs and reseal their blobs (resumable)."""
    journal = load_journal(store, "dek")
    resumed = journal is not None and journal["state"] != "done"
    if not resumed:
        names = list(options.collections) or [c.name for c in store.list_collections()]
        if options.resume_only:
            versions = {name: data_keys.ring(name).current_version for name in names}
            return RotationSummary(
                "dek",
                max(versions.values(), default=0),
                0,
                0,
                0,
                False,
                True,
                collections=versions,
            )
        journal = {
            "state": "running",
            "started_at": clock(),
            "collections": {
                name: {"from": data_keys.ring(name).current_version, "to": None} for name in names
            },
            "keyset": "skipped" if options.collections else "pending",
            "resealed": 0,
        }
        save_journal(store, "dek", journal)
    assert journal is not None
    resealed, remaining = 0, 0
    plan: dict[str, dict[str, Any]] = journal["collections"]
    for index, (name, step) in enumerate(sorted(plan.items()), start=1):
        ring = data_keys.ring(name)
        if step["to"] is None:
            if ring.current_version > step["from"]:
                step["to"] = ring.current_version  # created before a crash
            else:
                step["to"] = data_keys.add_version(name)
            save_journal(store, "dek", journal)
        label = f"collection {name} ({index}/{len(plan)})"
        done, left = _reseal_collection(
            store, data_keys, name, int(step["to"]), options, progress, label
        )
        resealed += done
        remaining += left
    keyset_resealed = False
    if journal.get("keyset") == "pending" and keyset_params is not None and remaining == 0:
        progress(RotationProgress("dek", "keyset", 0, 1, "CKKS key set"))
        keyset_resealed = reseal_keyset(store, keys, keyset_params)
        journal["keyset"] = "done"
        progress(RotationProgress("dek", "keyset", 1, 1, "CKKS key set"))
        journal["secrets_resealed"] = _reseal_other_secrets(store, keys, progress)
    journal["resealed"] = int(journal.get("resealed", 0)) + resealed
    if remaining == 0:
        journal.update(state="done", finished_at=clock())
    save_journal(store, "dek", journal)
    versions = {name: int(step["to"]) for name, step in plan.items()}
    return RotationSummary(
        kind="dek",
        key_version=max(versions.values(), default=0),
        from_version=min((int(s["from"]) for s in plan.values()), default=0),
        rewrapped=0,
        remaining_old=remaining,
        resumed=resumed,
        noop=False,
        resealed=resealed,
        collections=versions,
        keyset_resealed=keyset_resealed,
        started_at=float(journal.get("started_at", 0.0)),
        finished_at=float(journal.get("finished_at", 0.0)),
    )


def _reseal_other_secrets(store: TemplateStore, keys: KeyService, progress: Progress) -> int:
    """Give every other sealed secret of the catalog (transform seeds, the audit
    signing key, ...) a fresh DEK, so a whole-directory rotation misses none."""
    catalog = KeyCatalog(store, keys)
    pending = [r for r in catalog.records() if r.sealed and r.kind is not SecretKind.CKKS_KEYSET]
    resealed = 0
    for index, record in enumerate(pending, start=1):
        for _ in range(_MAX_CAS_ATTEMPTS):  # a concurrent rewrap changed it: read again
            if catalog.reseal(record):
                resealed += 1
                break
            fresh = catalog.record(record.kind, record.owner, record.slot)
            if fresh is None:
                break
            record = fresh
        progress(RotationProgress("dek", "secrets", index, len(pending), record.kind.value))
    return resealed


def _stale_blocks(store: TemplateStore, name: str, target: int) -> list[int]:
    return [
        block_no
        for block_no, header in key_data(store).block_headers(name, HEADER_SIZE)
        if BlobHeader.unpack(header).key_version < target
    ]


def _reseal_collection(
    store: TemplateStore,
    data_keys: CollectionDataKeys,
    name: str,
    target: int,
    options: RotationOptions,
    progress: Progress,
    label: str,
) -> tuple[int, int]:
    sealer = data_keys.sealer(name)
    if sealer.current_version != target:
        raise IntegrityError(
            f"collection {name!r}: current data key is version {sealer.current_version}, "
            f"the rotation expected {target}"
        )
    resealed = 0
    stale: Sequence[int] = ()
    for _ in range(_MAX_PASSES):
        stale = _stale_blocks(store, name, target)
        for done, block_no in enumerate(stale, start=1):
            resealed += _reseal_block(store, sealer, name, block_no)
            progress(RotationProgress("dek", "reseal", done, len(stale), label))
            if options.throttle:
                time.sleep(options.throttle)
        old_versions = [v for v in sealer.ring.versions() if v < target]
        if all(data_keys.retire(name, version) for version in old_versions):
            return resealed, 0
    return resealed, len(stale)


def _reseal_block(store: TemplateStore, sealer: BlobSealer, name: str, block_no: int) -> int:
    for _ in range(_MAX_CAS_ATTEMPTS):
        block = store.get_block(name, block_no)
        if block is None:
            return 0  # erased meanwhile
        blob = bytes(block.blob)
        fresh = sealer.reseal(blob, blob_id=block_blob_id(block_no))
        if fresh is None:
            return 0  # already current (rewritten by an enrolment meanwhile)
        if key_data(store).replace_block_blob(name, block_no, blob, fresh):
            return 1
    raise StorageError(f"block {block_no} of collection {name!r} kept changing during the rotation")
