"""``bench --ray-address --shards N``: the sharded engine and the in-process engine, side by side.

Both sides are the real served vault (vault.service.bootstrap: embedded OpenBao,
sealed blocks, audit log), over **one** data directory and so the very same
ciphertexts: first the in-process vault enrols the synthetic gallery and is
timed; then it is closed and the sharded vault opens the same store - its shards
log in and load their blocks themselves - and the same probes are timed through
scatter-gather. Last, one shard is killed with SIGKILL and the time until Ray
has restarted it and it has reloaded its blocks is measured (the bench must run
on a machine of the cluster for that: it kills by pid).

Accuracy through the shards is judged on what identify returns (the top-k), as
every score is never gathered in one place.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from vault.bench.memory import own_peak_rss
from vault.bench.runner import BenchConfig, _bytes_at_rest, _plaintext_batched_ms, _plaintext_ms
from vault.bench.synthetic import make_set
from vault.config import ServeSettings
from vault.types import CollectionPolicy, CollectionSpec, ProtectionMode, RequestContext

__all__ = ["run_sharded_bench"]

_CTX = RequestContext(
    actor="bench", purpose="benchmark", consent_ref="synthetic", legal_basis="synthetic-data"
)
_COLLECTION = "bench"
_ENROLL_CHUNK = 16384
_ACCURACY_SLICE = 65536

OpenServices = Callable[[ServeSettings], AbstractContextManager[Any]]


def _rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _timed(core: Any, probes: np.ndarray, batch: int, top_k: int) -> dict[str, float]:
    core.identify(_COLLECTION, probes[:1], top_k, _CTX)  # warm-up
    started = time.perf_counter()
    for probe in probes:
        core.identify(_COLLECTION, probe[None, :], top_k, _CTX)
    single = 1e3 * (time.perf_counter() - started) / len(probes)
    started = time.perf_counter()
    for first in range(0, len(probes), batch):
        core.identify(_COLLECTION, probes[first : first + batch], top_k, _CTX)
    batched = 1e3 * (time.perf_counter() - started) / len(probes)
    return {
        "he_ms_per_probe": single,
        "he_batched_ms_per_probe": batched,
        "probes_per_s_single": 1e3 / single,
        "probes_per_s_batched": 1e3 / batched,
    }


def _accuracy(core: Any, gallery: np.ndarray, probes: np.ndarray, top_k: int) -> dict[str, float]:
    """Top-1 agreement and the largest error of the returned top-k scores."""
    unit = probes.astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    # A slice at a time: a float64 copy of a 1M x 512 gallery would be 4 GB.
    plain = np.empty((len(unit), len(gallery)))
    for first in range(0, len(gallery), _ACCURACY_SLICE):
        rows = gallery[first : first + _ACCURACY_SLICE].astype(np.float64)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        plain[:, first : first + len(rows)] = unit @ rows.T
    found = core.identify(_COLLECTION, unit, top_k, _CTX)
    errors = [
        abs(m.score - plain[p, int(m.subject_id.removeprefix("id-"))])
        for p, row in enumerate(found)
        for m in row
    ]
    top1 = [row[0].subject_id if row else "" for row in found]
    expected = [f"id-{i}" for i in np.argmax(plain, axis=1)]
    return {
        "max_abs_score_error": float(max(errors, default=0.0)),
        "top1_agreement": float(np.mean([a == b for a, b in zip(top1, expected, strict=True)])),
    }


def _reload_after_kill(status: Callable[[], list[Any]], shard: int) -> dict[str, float]:
    """SIGKILL one shard; wall time until it is ALIVE again with its blocks loaded."""
    victim = status()[shard]
    os.kill(victim.pid, signal.SIGKILL)
    killed = time.monotonic()
    while True:
        now = status()[shard]
        if now.state == "ALIVE" and now.pid != victim.pid:
            return {
                "shard": shard,
                "templates": now.templates,
                "seconds_until_alive_and_loaded": time.monotonic() - killed,
                "shard_load_seconds": now.load_seconds,
            }
        if time.monotonic() - killed > 600:
            raise RuntimeError(f"shard {shard} did not come back within 600 s")
        time.sleep(0.05)


def run_sharded_bench(
    config: BenchConfig,
    *,
    ray_address: str,
    shards: int,
    open_services: OpenServices,
    kill_shard: bool = True,
) -> dict[str, Any]:
    """Measure the in-process engine, then the sharded one, on the same gallery."""
    say = config.progress
    load_before = os.getloadavg()
    say(f"generating {config.gallery} x {config.dim} synthetic templates")
    data = make_set(config.gallery, config.dim, config.probes, seed=config.seed)
    probes = data.probes
    with tempfile.TemporaryDirectory(prefix="biovault-shardbench-") as tmp:
        base = ServeSettings(
            data_dir=Path(tmp), retention_interval=0.0, he_workers=config.workers
        )
        # --- in process --------------------------------------------------------------
        before = _rss()
        with open_services(base) as services:
            core = services.core
            core.create_collection(
                CollectionSpec(
                    _COLLECTION,
                    ProtectionMode.CKKS,
                    config.dim,
                    allow_identification=True,
                    purposes=("benchmark",),
                    match_threshold=-1.0,
                    policy=CollectionPolicy(score_decimals=6, max_top_k=config.top_k),
                ),
                _CTX,
            )
            ids = [f"id-{i}" for i in range(config.gallery)]
            started = time.perf_counter()
            for first in range(0, config.gallery, _ENROLL_CHUNK):
                upto = min(config.gallery, first + _ENROLL_CHUNK)
                core.enroll(_COLLECTION, ids[first:upto], data.gallery[first:upto], _CTX)
                say(f"enrolled {upto}/{config.gallery}")
            enroll_seconds = time.perf_counter() - started
            say("timing the in-process engine")
            local = _timed(core, probes, config.batch, config.top_k)
            local["front_end_rss_bytes"] = _rss() - before
            local.update(_accuracy(core, data.gallery, probes, config.top_k))
        db_path = Path(tmp) / "vault.db"
        bytes_at_rest = _bytes_at_rest(db_path)
        # --- over the shards -----------------------------------------------------------
        say(f"opening the same store over {shards} shards at {ray_address}")
        before = _rss()
        started = time.perf_counter()
        sharded_settings = replace(base, ray_address=ray_address, shards=shards)
        with open_services(sharded_settings) as services:
            open_seconds = time.perf_counter() - started
            core, status = services.core, services.cluster_status
            say("timing the sharded engine")
            remote = _timed(core, probes, config.batch, config.top_k)
            remote["front_end_rss_bytes"] = _rss() - before
            remote.update(_accuracy(core, data.gallery, probes, config.top_k))
            shard_list = status()
            nodes = len({s.node for s in shard_list})
            reload = _reload_after_kill(status, shards - 1) if kill_shard else {}
            if reload:
                say(f"shard reloaded in {reload['seconds_until_alive_and_loaded']:.2f} s")
                # The answer after the restart is complete again.
                remote["after_restart_top1_agreement"] = _accuracy(
                    core, data.gallery, probes, config.top_k
                )["top1_agreement"]
    plain_single = _plaintext_ms(data.gallery, probes, config.top_k)
    plain_batched = _plaintext_batched_ms(data.gallery, probes, config.batch, config.top_k)
    return {
        "mode": "ckks",
        "engine": "sharded",
        "gallery": config.gallery,
        "dim": config.dim,
        "probes": config.probes,
        "batch": config.batch,
        "top_k": config.top_k,
        "shards": shards,
        "nodes": nodes,
        "plaintext_ms_per_probe": plain_single,
        "plaintext_batched_ms_per_probe": plain_batched,
        "he_ms_per_probe": remote["he_ms_per_probe"],
        "he_batched_ms_per_probe": remote["he_batched_ms_per_probe"],
        "ratio_vs_plaintext": remote["he_ms_per_probe"] / plain_single,
        "batched_ratio_vs_plaintext_batched": remote["he_batched_ms_per_probe"] / plain_batched,
        "max_abs_score_error": remote["max_abs_score_error"],
        "top1_agreement": remote["top1_agreement"],
        "bytes_per_template": bytes_at_rest / config.gallery,
        "gallery_bytes_at_rest": bytes_at_rest,
        "enroll_templates_per_s": config.gallery / enroll_seconds,
        "sharded": remote,
        "in_process": local,
        "overhead_vs_in_process": {
            "single": remote["he_ms_per_probe"] / local["he_ms_per_probe"],
            "batched": remote["he_batched_ms_per_probe"] / local["he_batched_ms_per_probe"],
        },
        "front_end_open_seconds": open_seconds,
        "shard_status": [
            {
                "shard": s.shard,
                "templates": s.templates,
                "rss_bytes": s.rss_bytes,
                "load_seconds": s.load_seconds,
            }
            for s in shard_list
        ],
        "reload_after_kill": reload,
        "bench_peak_rss_bytes": own_peak_rss(),
        "scores_compared": "top-k returned by identify (all scores are never gathered)",
        # The machine's load: other work on it skews both sides (they run one after the other).
        "load_average_before_after": [load_before[0], os.getloadavg()[0]],
    }
