"""Hybrid against plain CKKS on the same synthetic gallery, through the real core.

Run: ``.venv/bin/python benchmarks/hybrid_vs_ckks.py [--gallery N] [--json P]``.

Both collections hold the same templates in one core (real SQLite file, real CKKS
key set with worker processes); ``identify`` is timed one probe at a time (as
``he_ms_per_probe`` in ``biovault bench``) and with a batch of probes per call. The
hybrid's keyed projection halves the dimension, so each block is 256 ciphertexts
instead of 512 and each probe's BLAS product half as long. Timing rounds interleave
the modes (medians are reported) so that load from other processes hits all alike.
The cancelable mode is timed too (FFT matcher, no encryption) for reference.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

from vault.audit.base import AuditEvent, AuditSink
from vault.bench.synthetic import make_set
from vault.cli.common import write_json
from vault.core.vault import VaultCore
from vault.he.keyset import CkksKeySet
from vault.he.params import DEFAULT_PARAMS_ID, get_params
from vault.keys.datakey import DataKey
from vault.schemes.seeds import EphemeralSeedSource
from vault.store.sqlite import SqliteTemplateStore
from vault.types import CollectionSpec, ProtectionMode, RequestContext

CTX = RequestContext(actor="bench", purpose="bench", consent_ref="bench", legal_basis="bench")


class _NullAudit(AuditSink):
    def append(self, event: AuditEvent) -> None:
        pass


def _timed(core: VaultCore, name: str, probes: np.ndarray, batch: int) -> tuple[float, float]:
    core.identify(name, probes[:1], 10, CTX)
    started = time.perf_counter()
    for probe in probes:
        core.identify(name, probe[None, :], 10, CTX)
    single = 1e3 * (time.perf_counter() - started) / len(probes)
    started = time.perf_counter()
    for first in range(0, len(probes), batch):
        core.identify(name, probes[first : first + batch], 10, CTX)
    return single, 1e3 * (time.perf_counter() - started) / len(probes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gallery", type=int, default=32768)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--probes", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--json", default="-")
    args = parser.parse_args()
    data = make_set(args.gallery, args.dim, args.probes, seed=0)
    keyset = CkksKeySet.generate(get_params(DEFAULT_PARAMS_ID))
    keyset.start_workers(os.cpu_count() or 1)
    result: dict[str, object] = {"gallery": args.gallery, "dim": args.dim, "probes": args.probes}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "vault.db"
            store = SqliteTemplateStore(db)
            core = VaultCore(
                store=store,
                keyset=keyset,
                audit=_NullAudit(),
                pseudonym_key=DataKey._unsafe_from_material(os.urandom(32), "bench"),
                transform_seeds=EphemeralSeedSource(),
            )
            ids = [f"id-{i}" for i in range(args.gallery)]
            modes = ("ckks", "hybrid", "cancelable")
            for mode in modes:
                spec = CollectionSpec(
                    mode, ProtectionMode(mode), args.dim, True, purposes=("bench",)
                )
                core.create_collection(spec, CTX)
                started = time.perf_counter()
                for first in range(0, args.gallery, 16384):
                    rows = slice(first, first + 16384)
                    core.enroll(mode, ids[rows], data.gallery[rows], CTX)
                enroll = time.perf_counter() - started
                top1 = [r[0].subject_id for r in core.identify(mode, data.probes, 1, CTX)]
                expected = [f"id-{i}" for i in data.probe_rows]
                with sqlite3.connect(db) as conn:
                    (size,) = conn.execute(
                        "SELECT SUM(LENGTH(blob)) FROM blocks WHERE collection = ?", (mode,)
                    ).fetchone()
                result[mode] = {
                    "enroll_templates_per_s": args.gallery / enroll,
                    "block_bytes_per_template": size / args.gallery,
                    "top1_correct": float(
                        np.mean([a == b for a, b in zip(top1, expected, strict=True)])
                    ),
                }
            # Interleave the modes round by round: the machine's load (other processes on
            # the same two cores) then hits every mode alike; report medians.
            rounds: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
            for _ in range(args.rounds):
                for mode in modes:
                    rounds[mode].append(_timed(core, mode, data.probes, args.batch))
            for mode in modes:
                single = float(np.median([r[0] for r in rounds[mode]]))
                batched = float(np.median([r[1] for r in rounds[mode]]))
                key = "ms_per_probe" if mode == "cancelable" else "he_ms_per_probe"
                result[mode] |= {key: single, "batched_ms_per_probe": batched}  # type: ignore[operator]
                print(mode, result[mode], flush=True)
            result["hybrid_vs_ckks_he_ms_ratio"] = float(
                np.median(
                    [h[0] / c[0] for h, c in zip(rounds["hybrid"], rounds["ckks"], strict=True)]
                )
            )
            store.close()
    finally:
        keyset.stop_workers()
    write_json(args.json, result)


if __name__ == "__main__":
    main()
