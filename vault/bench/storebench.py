"""Store comparison of ``biovault bench --store-url``: SQLite vs PostgreSQL, same run.

Both backends get the same synthetic gallery through the vault's own enrolment
path (a real :class:`~vault.core.vault.VaultCore` and its compliance guard over a
real Merkle audit log whose rows live in the same backend), then the gallery is loaded back
into memory the way a starting service does (a new core over the store).

* ``enrol_per_s`` - templates per second, end to end (CKKS encryption included,
  which both backends share, so the ratio shows what the store adds);
* ``load_s`` - seconds to build a serving core over the stored gallery;
* ``*_ratio_vs_sqlite`` - PostgreSQL's throughput over SQLite's (higher is
  better for both: for load, ``sqlite_load_s / postgresql_load_s``).

PostgreSQL tables go into a scratch schema ``biovault_bench_<random>`` of the
named database, dropped at the end; the database's own tables are not touched.
The backends take turns for ``rounds`` rounds (SQLite, PostgreSQL, SQLite, ...)
and each reports its best round, so a burst of other work on a shared machine
does not land on one backend only.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vault.audit.log import MerkleAuditLog
from vault.audit.note import NoteSigner
from vault.core.guard import ComplianceGuard
from vault.core.vault import VaultCore
from vault.he.keyset import CkksKeySet
from vault.keys.datakey import DataKey
from vault.store.base import TemplateStore
from vault.store.factory import StoreLocation, open_log_rows, open_store
from vault.types import CollectionSpec, ProtectionMode, RequestContext

__all__ = ["compare_stores"]

_CTX = RequestContext(
    actor="bench", purpose="benchmark", consent_ref="synthetic", legal_basis="synthetic-data"
)
_COLLECTION = "bench-store"
_CHUNK = 16384


def _guarded_core(
    store: TemplateStore, keyset: CkksKeySet, log: MerkleAuditLog, pseudonym_key: DataKey
) -> VaultCore:
    """The core as the service wires it: audited to the Merkle log, with its guard."""
    return VaultCore(store=store, keyset=keyset, audit=log, compliance=ComplianceGuard(log),
                     pseudonym_key=pseudonym_key)  # fmt: skip


def _run_backend(
    store: TemplateStore,
    rows: object,
    keyset: CkksKeySet,
    gallery: np.ndarray,
    say: Callable[[str], None],
    name: str,
    bytes_at_rest: Callable[[], int],
) -> dict[str, float]:
    pseudonym_key = DataKey._unsafe_from_material(os.urandom(32), "bench")
    log = MerkleAuditLog(rows, NoteSigner.generate("biovault.local/bench-store"))  # type: ignore[arg-type]
    core = _guarded_core(store, keyset, log, pseudonym_key)
    spec = CollectionSpec(_COLLECTION, ProtectionMode.CKKS, gallery.shape[1],
                          allow_identification=True, purposes=("benchmark",))  # fmt: skip
    core.create_collection(spec, _CTX)
    ids = [f"id-{i}" for i in range(len(gallery))]
    started = time.perf_counter()
    for first in range(0, len(gallery), _CHUNK):
        core.enroll(_COLLECTION, ids[first : first + _CHUNK], gallery[first : first + _CHUNK], _CTX)
        say(f"{name}: enrolled {min(first + _CHUNK, len(gallery))}/{len(gallery)}")
    enrol_seconds = time.perf_counter() - started
    del core
    started = time.perf_counter()
    loaded = _guarded_core(store, keyset, log, pseudonym_key)
    load_seconds = time.perf_counter() - started
    assert loaded.collection_sizes()[_COLLECTION] == len(gallery)
    del loaded
    log.close()
    return {"enrol_per_s": len(gallery) / enrol_seconds, "enrol_s": enrol_seconds,
            "load_s": load_seconds,
            "bytes_per_template": bytes_at_rest() / len(gallery)}  # fmt: skip


def compare_stores(
    gallery: np.ndarray,
    keyset: CkksKeySet,
    url: str,
    *,
    password_file: Path | None = None,
    say: Callable[[str], None] = lambda message: None,
    rounds: int = 3,
) -> dict[str, Any]:
    """Enrol ``gallery`` into SQLite and into PostgreSQL at ``url``; time both."""
    runs: dict[str, list[dict[str, float]]] = {"sqlite": [], "postgresql": []}
    for round_no in range(rounds):
        with tempfile.TemporaryDirectory(prefix="biovault-bench-store-") as tmp:
            local = StoreLocation(Path(tmp))
            store = open_store(local)
            try:
                runs["sqlite"].append(_run_backend(
                    store, open_log_rows(store, local), keyset, gallery, say,
                    f"sqlite round {round_no + 1}", lambda: _files_size(Path(tmp)),
                ))  # fmt: skip
            finally:
                store.close()
            remote = StoreLocation(Path(tmp), url, password_file)
            pg = open_store(remote, namespace=f"biovault_bench_{secrets.token_hex(4)}")
            try:
                runs["postgresql"].append(_run_backend(
                    pg, open_log_rows(pg, remote), keyset, gallery, say,
                    f"postgresql round {round_no + 1}", pg.bytes_at_rest,  # type: ignore[attr-defined]
                ))  # fmt: skip
            finally:
                pg.unsafe_drop_namespace()  # type: ignore[attr-defined]
    results = {name: _best(each) for name, each in runs.items()}
    sqlite, postgres = results["sqlite"], results["postgresql"]
    return {
        "store_backend": "postgresql",
        "store_gallery": len(gallery),
        "enrol_per_s": postgres["enrol_per_s"],
        "load_s": postgres["load_s"],
        "sqlite_enrol_per_s": sqlite["enrol_per_s"],
        "sqlite_load_s": sqlite["load_s"],
        "enrol_ratio_vs_sqlite": postgres["enrol_per_s"] / sqlite["enrol_per_s"],
        "load_ratio_vs_sqlite": sqlite["load_s"] / postgres["load_s"],
        # Store and audit log together on both sides (PostgreSQL: tables, TOAST, indexes).
        "store_bytes_per_template": postgres["bytes_per_template"],
        "sqlite_store_bytes_per_template": sqlite["bytes_per_template"],
        "stores": results,
        "rounds": runs,
    }


def _best(runs: list[dict[str, float]]) -> dict[str, float]:
    return {
        "enrol_per_s": max(r["enrol_per_s"] for r in runs),
        "enrol_s": min(r["enrol_s"] for r in runs),
        "load_s": min(r["load_s"] for r in runs),
        "bytes_per_template": min(r["bytes_per_template"] for r in runs),
    }


def _files_size(directory: Path) -> int:
    """Bytes of every file under ``directory`` (the SQLite store, its WAL, the log)."""
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
