"""Resident memory of a process serving a stored gallery, measured in a fresh child.

The bench process itself holds plaintext copies of the synthetic data, so its RSS
would overstate the vault's. A spawned child opens the SQLite file, loads the
collection exactly as `biovault serve` does, answers one identification and
reports its resident set (VmRSS) and peak (VmHWM). It generates its own key set:
the scores it computes are meaningless, the memory it needs is not.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import numpy as np

__all__ = ["serving_rss"]


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _child(db_path: str, dim: int, queue: multiprocessing.Queue) -> None:
    from vault.audit.base import AuditEvent, AuditSink
    from vault.core.vault import VaultCore
    from vault.he.keyset import CkksKeySet
    from vault.he.params import DEFAULT_PARAMS_ID, get_params
    from vault.keys.datakey import DataKey
    from vault.store.sqlite import SqliteTemplateStore
    from vault.types import RequestContext

    class _Discard(AuditSink):
        def append(self, event: AuditEvent) -> None:
            pass

    baseline = _status_bytes("VmRSS")
    store = SqliteTemplateStore(Path(db_path))
    core = VaultCore(
        store=store,
        keyset=CkksKeySet.generate(get_params(DEFAULT_PARAMS_ID)),
        audit=_Discard(),
        pseudonym_key=DataKey._unsafe_from_material(os.urandom(32), "rss"),
    )
    probe = np.ones((1, dim)) / np.sqrt(dim)
    for name in [c.name for c in store.list_collections()]:
        core.identify(name, probe, 1, RequestContext(purpose="benchmark"))
    queue.put(
        {
            "rss_bytes": _status_bytes("VmRSS"),
            "peak_rss_bytes": _status_bytes("VmHWM"),
            "rss_before_load_bytes": baseline,
        }
    )
    store.close()


def serving_rss(db_path: Path, dim: int, in_memory_bytes: int = 0) -> dict[str, float]:
    """RSS of a fresh process serving ``db_path``, and its ratio to the bytes at rest
    and (given ``in_memory_bytes``, what the loaded gallery's residues occupy) to those."""
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = context.Queue()
    child = context.Process(target=_child, args=(str(db_path), dim, queue))
    child.start()
    result = queue.get(timeout=3600)
    child.join()
    at_rest = sum(p.stat().st_size for p in db_path.parent.glob(db_path.name + "*"))
    result["bytes_at_rest"] = at_rest
    result["rss_ratio_vs_at_rest"] = result["rss_bytes"] / at_rest
    result["peak_rss_ratio_vs_at_rest"] = result["peak_rss_bytes"] / at_rest
    if in_memory_bytes:
        result["in_memory_residue_bytes"] = in_memory_bytes
        result["rss_ratio_vs_in_memory_residues"] = result["rss_bytes"] / in_memory_bytes
        result["peak_rss_ratio_vs_in_memory_residues"] = result["peak_rss_bytes"] / in_memory_bytes
    return result


def own_peak_rss() -> int:
    """This process's peak resident set so far (VmHWM), in bytes."""
    return _status_bytes("VmHWM")
