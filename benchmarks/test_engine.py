"""Encrypted enrol / identify / verify against the plaintext numpy baseline, per
gallery size. Compare rows of the same size in pytest-benchmark's table; each
encrypted benchmark also stores its ratio to plaintext in extra_info."""

from __future__ import annotations

import numpy as np

from benchmarks.conftest import CTX, DIM, new_core, top_k
from vault.bench.synthetic import make_set

_PLAIN: dict[int, float] = {}


def test_plaintext_identify(benchmark, gallery):
    """numpy float32 G @ q + top-10 for one probe (the physical reference)."""
    size, data, _ = gallery
    probe = data.probes[0]
    benchmark(lambda: top_k(data.gallery @ probe, 10))
    _PLAIN[size] = benchmark.stats.stats.mean


def test_encrypted_identify_single(benchmark, gallery):
    """The vault's identify for one probe: score + decrypt + top-10."""
    size, data, core = gallery
    benchmark(lambda: core.identify("bench", data.probes[:1], 10, CTX))
    if size in _PLAIN:
        benchmark.extra_info["ratio_vs_plaintext"] = benchmark.stats.stats.mean / _PLAIN[size]


def test_encrypted_identify_batched(benchmark, gallery):
    """32 probes in one identify call (divide the time by 32 for per-probe cost)."""
    _, data, core = gallery
    benchmark.extra_info["probes_per_call"] = 32
    benchmark(lambda: core.identify("bench", data.probes, 10, CTX))


def test_encrypted_verify(benchmark, gallery):
    """1:1 verify: one block scored, one ciphertext decrypted."""
    _, data, core = gallery
    benchmark(lambda: core.verify("bench", f"id-{data.probe_rows[0]}", data.probes[0], CTX))


def test_encrypted_enroll_block(benchmark, keyset, tmp_path):
    """Enrolling one full block (4096 templates) into a fresh collection."""
    data = make_set(4096, DIM, 1, seed=1)
    counter = iter(range(10**6))

    def enroll_once():
        core = new_core(tmp_path / f"e{next(counter)}.db", keyset)
        core.enroll("bench", [f"id-{i}" for i in range(4096)], data.gallery, CTX)

    benchmark.pedantic(enroll_once, rounds=3, iterations=1)
    benchmark.extra_info["templates_per_round"] = 4096
    assert np.isfinite(benchmark.stats.stats.mean)
