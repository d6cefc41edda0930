"""Bulk erasure throughput for ``biovault bench`` (``erase_subjects_per_s``).

The bench's identify timings leave the audit log out (the contract times score +
decrypt + top-k), so its log counts events in memory while ``recording`` is off.
For the erasure phase it records for real - every erased subject gets a signed,
durably stored entry and its own receipt, as ``biovault delete --ids`` gives -
and the throughput includes all of that.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from vault.audit.base import AuditEvent
from vault.audit.log import MerkleAuditLog
from vault.core.vault import VaultCore
from vault.types import RequestContext

__all__ = ["BenchLog", "measure_erasure"]

_DPO = RequestContext(actor="bench:dpo", purpose="erasure-request")


class BenchLog(MerkleAuditLog):
    """A real Merkle log that only stores entries while ``recording`` is on."""

    recording = False
    skipped = 0

    def append(self, event: AuditEvent) -> int:
        if self.recording:
            return super().append(event)
        self.skipped += 1
        return -1

    def append_many(self, events: list[AuditEvent]) -> list[int]:
        if self.recording:
            return super().append_many(events)
        self.skipped += len(events)
        return [-1] * len(events)


def erase_count(gallery: int) -> int:
    """1% of the gallery, at least 1,000 subjects, at most half of it."""
    return max(1, min(gallery // 2, max(1000, gallery // 100)))


def measure_erasure(
    vault: VaultCore, log: BenchLog, collection: str, ids: Sequence[str], *, seed: int
) -> dict[str, object]:
    """Bulk-erase a random sample of ``ids`` with receipts; report subjects per second."""
    rng = np.random.default_rng(seed + 1)
    chosen = [ids[i] for i in rng.choice(len(ids), erase_count(len(ids)), replace=False)]
    log.recording = True
    try:
        started = time.perf_counter()
        results = vault.delete_many(collection, chosen, _DPO)
        seconds = time.perf_counter() - started
    finally:
        log.recording = False
    if len(results) != len(chosen) or any(r.receipt is None for r in results):
        raise RuntimeError("bulk erasure did not return one receipt per subject")
    return {
        "erase_subjects_per_s": len(chosen) / seconds,
        "erase": {
            "subjects": len(chosen),
            "seconds": seconds,
            "selection": "uniformly random subjects of the gallery, one bulk call",
            "receipts": len(results),
        },
    }
