"""One process, one synthetic gallery, everything measured side by side.

The encrypted path is the vault's own: a real VaultCore (with its compliance guard,
for erasure receipts) over a real SQLite file and a real CKKS key set. The key
service is left out - it is not on the identify path - and audit events are only
counted while timing, so the numbers are score + decrypt + top-k as the contract
defines them; the bulk-erasure phase at the end records to a real Merkle log
(vault.bench.erasure). Enrolment grows the gallery in steps; each step is a point
of the scaling curve. The score error compares every stored slot's decrypted score
(``unsafe_all_scores`` of each stored block, opened through the schemes layer, not
the serving core) with float64 plaintext scores.

``mode`` picks the collection's protection. ``hybrid`` and ``cancelable`` get
their transform seeds from an in-memory source (gone with the process), so their
``he_ms_per_probe`` is the same path with the keyed transform in front, and the
score error is reported against the *unprotected* scores as
``max_abs_score_error_vs_unprotected`` (it then includes the transform's own
distortion, not only the encryption's). The serving-memory child needs the seeds,
so it runs for ``ckks`` only.
"""

from __future__ import annotations

import math
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vault.audit.note import NoteSigner
from vault.bench.erasure import BenchLog, measure_erasure
from vault.bench.memory import own_peak_rss, serving_rss
from vault.bench.synthetic import make_set
from vault.core.guard import ComplianceGuard
from vault.core.protection import open_collection
from vault.core.vault import VaultCore
from vault.he.baselines import time_column_tenseal, time_naive_tenseal
from vault.he.gallery import EncryptedGallery
from vault.he.keyset import CkksKeySet
from vault.he.params import DEFAULT_PARAMS_ID, get_params
from vault.he.stages import STAGES
from vault.keys.datakey import DataKey
from vault.schemes.base import UnsafeScoring
from vault.schemes.seeds import EphemeralSeedSource, SeedSource
from vault.schemes.validation import validate_templates
from vault.store.base import SubjectRecord
from vault.store.sqlite import SqliteTemplateStore
from vault.types import CollectionSpec, ProtectionMode, RequestContext

__all__ = ["BenchConfig", "run_bench", "run_store_comparison"]

# Synthetic data: the consent fields the vault requires name the benchmark itself.
_CTX = RequestContext(
    actor="bench", purpose="benchmark", consent_ref="synthetic", legal_basis="synthetic-data"
)
_COLLECTION = "bench"
_ENROLL_CHUNK = 16384
_ACCURACY_SLICE = 65536


@dataclass(frozen=True)
class BenchConfig:
    """Parameters of one run."""

    gallery: int
    dim: int
    probes: int
    batch: int
    top_k: int = 10
    seed: int = 0
    workers: int = 0
    naive_sample: int = 32
    curve_points: int = 4
    measure_memory: bool = True
    mode: ProtectionMode = ProtectionMode.CKKS
    progress: Callable[[str], None] = field(default=lambda message: None)


def _plaintext_ms(gallery: np.ndarray, probes: np.ndarray, top_k: int) -> float:
    """numpy float32 G @ q + top-k, one probe at a time."""
    k = min(top_k, len(gallery))
    gallery @ probes[0]  # warm the BLAS threads
    started = time.perf_counter()
    for probe in probes:
        scores = gallery @ probe
        best = np.argpartition(-scores, k - 1)[:k]
        best[np.argsort(-scores[best])]
    return 1e3 * (time.perf_counter() - started) / len(probes)


def _plaintext_batched_ms(gallery: np.ndarray, probes: np.ndarray, batch: int, top_k: int) -> float:
    """numpy float32 Q @ G.T + top-k for ``batch`` probes at once, per probe."""
    k = min(top_k, len(gallery))
    probes[:batch] @ gallery[: min(len(gallery), 4096)].T  # warm the BLAS threads
    started = time.perf_counter()
    for first in range(0, len(probes), batch):
        scores = probes[first : first + batch] @ gallery.T
        best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        picked = np.take_along_axis(scores, best, axis=1)
        np.take_along_axis(best, np.argsort(-picked, axis=1), axis=1)
        del scores
    return 1e3 * (time.perf_counter() - started) / len(probes)


def _stage_ms(probes: int) -> dict[str, float]:
    """The engine's stage clock since the last reset, in ms per probe."""
    return {name: 1e3 * seconds / probes for name, seconds in STAGES.snapshot().items()}


def _he_single_ms(core: VaultCore, probes: np.ndarray, top_k: int) -> tuple[float, dict]:
    core.identify(_COLLECTION, probes[:1], top_k, _CTX)  # warm-up
    STAGES.reset()
    started = time.perf_counter()
    for probe in probes:
        core.identify(_COLLECTION, probe[None, :], top_k, _CTX)
    elapsed = time.perf_counter() - started
    return 1e3 * elapsed / len(probes), _stage_ms(len(probes))


def _he_batched_ms(
    core: VaultCore, probes: np.ndarray, batch: int, top_k: int
) -> tuple[float, dict]:
    STAGES.reset()
    started = time.perf_counter()
    for first in range(0, len(probes), batch):
        core.identify(_COLLECTION, probes[first : first + batch], top_k, _CTX)
    elapsed = time.perf_counter() - started
    return 1e3 * elapsed / len(probes), _stage_ms(len(probes))


def _checkpoints(gallery: int, points: int, block: int) -> list[int]:
    """Gallery sizes to measure on the way up: halvings of ``gallery`` rounded to
    whole blocks, so that no block is encrypted twice just to take a measurement."""
    sizes = {gallery}
    for shift in range(1, max(points, 1)):
        size = (gallery >> shift) // block * block
        if size > 0:
            sizes.add(size)
    return sorted(sizes)


def _bytes_at_rest(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in db_path.parent.glob(db_path.name + "*"))


def run_bench(config: BenchConfig) -> dict[str, object]:
    """Run every measurement and return the contract's JSON document."""
    say = config.progress
    say(f"generating {config.gallery} x {config.dim} synthetic templates")
    data = make_set(config.gallery, config.dim, config.probes, seed=config.seed)
    keyed = config.mode is not ProtectionMode.CKKS
    keyset = CkksKeySet.generate(get_params(DEFAULT_PARAMS_ID))
    keyset.start_workers(config.workers or os.cpu_count() or 1)
    curve: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="biovault-bench-") as tmp:
            db_path = Path(tmp) / "vault.db"
            store = SqliteTemplateStore(db_path)
            log = BenchLog(Path(tmp) / "audit.db", NoteSigner.generate("biovault.local/bench"))
            seeds = EphemeralSeedSource() if keyed else None
            core = VaultCore(
                store=store,
                keyset=keyset,
                audit=log,
                compliance=ComplianceGuard(log),
                pseudonym_key=DataKey._unsafe_from_material(os.urandom(32), "bench"),
                transform_seeds=seeds,
            )
            core.create_collection(
                CollectionSpec(
                    _COLLECTION,
                    config.mode,
                    config.dim,
                    allow_identification=True,
                    purposes=("benchmark",),
                ),
                _CTX,
            )
            ids = [f"id-{i}" for i in range(config.gallery)]
            enrolled, enroll_seconds = 0, 0.0
            for size in _checkpoints(config.gallery, config.curve_points, keyset.params.slots):
                while enrolled < size:
                    upto = min(size, enrolled + _ENROLL_CHUNK)
                    started = time.perf_counter()
                    core.enroll(_COLLECTION, ids[enrolled:upto], data.gallery[enrolled:upto], _CTX)
                    enroll_seconds += time.perf_counter() - started
                    enrolled = upto
                    say(f"enrolled {enrolled}/{config.gallery}")
                probes = (
                    data.probes[data.probe_rows < size] if size < config.gallery else data.probes
                )
                if len(probes) == 0:
                    probes = data.gallery[:1]
                single_ms, single_stages = _he_single_ms(core, probes, config.top_k)
                batched_ms, batched_stages = _he_batched_ms(
                    core, probes, config.batch, config.top_k
                )
                point: dict[str, Any] = {
                    "gallery": size,
                    "plaintext_ms_per_probe": _plaintext_ms(
                        data.gallery[:size], probes, config.top_k
                    ),
                    "plaintext_batched_ms_per_probe": _plaintext_batched_ms(
                        data.gallery[:size], probes, config.batch, config.top_k
                    ),
                    "he_ms_per_probe": single_ms,
                    "he_batched_ms_per_probe": batched_ms,
                    "stages_ms_per_probe": single_stages,
                    "stages_batched_ms_per_probe": batched_stages,
                }
                curve.append(point)
                say(
                    f"gallery {size}: plaintext {point['plaintext_ms_per_probe']:.2f} ms, "
                    f"encrypted {point['he_ms_per_probe']:.2f} ms per probe"
                )
            accuracy = _accuracy(core, _StoredGallery(store, keyset, seeds), data, config)
            bytes_at_rest = _bytes_at_rest(db_path)
            say("bulk erasure")
            erasure = measure_erasure(core, log, _COLLECTION, ids, seed=config.seed)
            log.close()
            store.close()
            # Free this process's encrypted gallery before the serving child loads its
            # own copy: the two at once doubled the machine's memory at 1M.
            bench_peak = own_peak_rss()
            del core
            measure_memory = config.measure_memory and not keyed
            blocks = math.ceil(config.gallery / keyset.params.slots)
            residue_bytes = blocks * EncryptedGallery.shared_block_bytes(
                config.dim, keyset.params.poly_modulus_degree
            )
            memory = serving_rss(db_path, config.dim, residue_bytes) if measure_memory else {}
    finally:
        keyset.stop_workers()
    say("timing the TenSEAL baselines")
    naive = time_naive_tenseal(
        data.gallery[: config.naive_sample].astype(np.float64),
        data.probes[0].astype(np.float64),
        config.gallery,
    )
    column = time_column_tenseal(
        data.gallery[:4096].astype(np.float64), data.probes[0].astype(np.float64), config.gallery
    )
    final = curve[-1]
    for point in curve:
        scale = point["gallery"] / config.gallery
        point["naive_tenseal_ms_per_probe"] = naive.ms_per_probe_scaled * scale
        point["column_tenseal_ms_per_probe"] = (
            column.ms_per_probe_scaled
            * math.ceil(point["gallery"] / 4096)
            / math.ceil(config.gallery / 4096)
        )
    return {
        "mode": config.mode.value,
        "gallery": config.gallery,
        "dim": config.dim,
        "probes": config.probes,
        "batch": config.batch,
        "top_k": config.top_k,
        "plaintext_ms_per_probe": final["plaintext_ms_per_probe"],
        "he_ms_per_probe": final["he_ms_per_probe"],
        "he_batched_ms_per_probe": final["he_batched_ms_per_probe"],
        "ratio_vs_plaintext": final["he_ms_per_probe"] / final["plaintext_ms_per_probe"],
        "batched_ratio_vs_plaintext": final["he_batched_ms_per_probe"]
        / final["plaintext_ms_per_probe"],
        "plaintext_batched_ms_per_probe": final["plaintext_batched_ms_per_probe"],
        "batched_ratio_vs_plaintext_batched": final["he_batched_ms_per_probe"]
        / final["plaintext_batched_ms_per_probe"],
        "stages": {
            "unit": "ms per probe, summed over the timed identify calls",
            "single": final["stages_ms_per_probe"],
            "batched": final["stages_batched_ms_per_probe"],
        },
        "naive_tenseal_ms_per_probe": naive.ms_per_probe_scaled,
        "column_tenseal_ms_per_probe": column.ms_per_probe_scaled,
        "baselines": {
            "method": "measured on a sample and scaled linearly to the gallery size",
            "naive_measured_templates": naive.measured_templates,
            "naive_measured_seconds": naive.measured_seconds,
            "column_measured_templates": column.measured_templates,
            "column_measured_seconds": column.measured_seconds,
        },
        "bytes_per_template": bytes_at_rest / config.gallery,
        "gallery_bytes_at_rest": bytes_at_rest,
        "enroll_templates_per_s": config.gallery / enroll_seconds,
        **accuracy,
        **erasure,
        "memory": memory,
        "bench_peak_rss_bytes": bench_peak,
        "curve": curve,
        "params": {
            "poly_modulus_degree": keyset.params.poly_modulus_degree,
            "coeff_mod_bit_sizes": list(keyset.params.coeff_mod_bit_sizes),
            "scale_bits": keyset.params.scale_bits,
            "prime_bits": keyset.prime.bit_length(),
            "he_workers": config.workers or os.cpu_count() or 1,
        },
    }


@dataclass(frozen=True)
class _StoredGallery:
    """The bench collection as stored, for scoring outside the serving core."""

    store: SqliteTemplateStore
    keyset: CkksKeySet
    seeds: SeedSource | None

    def unsafe_all_scores(self, probes: np.ndarray) -> Iterator[tuple[list[str], np.ndarray]]:
        """Every stored subject's decrypted score per probe, one stored block at a time.

        Each block is opened through the schemes layer as a collection of its own
        (what evaluation does), so no second copy of the whole gallery is held.
        """
        record = self.store.get_collection(_COLLECTION)
        assert record is not None
        by_block: dict[int, list[SubjectRecord]] = {}
        for subject in self.store.list_subjects(_COLLECTION):
            by_block.setdefault(subject.block_no, []).append(subject)
        units = validate_templates(probes, record.dim, what="probes")
        for block in self.store.iter_blocks(_COLLECTION):
            collection = open_collection(record, keyset=self.keyset, seeds=self.seeds)
            collection.load([block], by_block.get(block.block_no, []))
            assert isinstance(collection, UnsafeScoring)
            yield collection.unsafe_all_scores(units)


def run_store_comparison(
    config: BenchConfig, url: str, password_file: Path | None = None
) -> dict[str, object]:
    """Enrolment and start-up load on SQLite vs the PostgreSQL at ``url``
    (vault/bench/storebench.py), on the run's synthetic gallery."""
    from vault.bench.storebench import compare_stores

    data = make_set(config.gallery, config.dim, 1, seed=config.seed)
    keyset = CkksKeySet.generate(get_params(DEFAULT_PARAMS_ID))
    keyset.start_workers(config.workers or os.cpu_count() or 1)
    try:
        return compare_stores(
            data.gallery, keyset, url, password_file=password_file, say=config.progress
        )
    finally:
        keyset.stop_workers()


def _accuracy(
    core: VaultCore, stored: _StoredGallery, data: object, config: BenchConfig
) -> dict[str, float]:
    """Protected scores of every slot against float64 plaintext scores.

    The float64 plaintext scores are computed a slice of the gallery at a time: a
    float64 copy of a 1M x 512 gallery would be 4 GB on top of the run's own data.
    """
    top_k, mode = config.top_k, config.mode
    gallery = data.gallery  # type: ignore[attr-defined]
    probes = data.probes.astype(np.float64)  # type: ignore[attr-defined]
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    plain = np.empty((len(probes), len(gallery)))
    for first in range(0, len(gallery), _ACCURACY_SLICE):
        rows = gallery[first : first + _ACCURACY_SLICE].astype(np.float64)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        plain[:, first : first + len(rows)] = probes @ rows.T
    error = 0.0
    for ids, scores in stored.unsafe_all_scores(probes):
        if ids:
            order = np.array([int(subject.removeprefix("id-")) for subject in ids])
            error = max(error, float(np.abs(scores - plain[:, order]).max()))
    top1 = [r[0].subject_id for r in core.identify(_COLLECTION, probes, top_k, _CTX)]
    expected = [f"id-{i}" for i in np.argmax(plain, axis=1)]
    error_key = "max_abs_score_error"
    if mode is not ProtectionMode.CKKS:
        error_key += "_vs_unprotected"
    return {
        error_key: error,
        "top1_agreement": float(np.mean([a == b for a, b in zip(top1, expected, strict=True)])),
    }
