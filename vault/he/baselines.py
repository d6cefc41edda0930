"""The two TenSEAL baselines the benchmark compares against (measured, then scaled).

* **naive**: one template per CKKSVector, ``enc.dot(probe)`` per template - what
  most tutorials do. Measured on a sample of templates, scaled linearly.
* **column**: HERS-style column packing through TenSEAL's high-level API - one
  CKKSVector per coordinate holding that coordinate of N/2 templates, scored as
  sum_j ct_j * q_j with one TenSEAL call per coordinate. Measured on one block,
  scaled by the number of blocks the gallery needs.

Both use the parameters TenSEAL's tutorials use for this job (N = 8192,
coefficient moduli [60, 40, 40, 60], scale 2^40, Galois keys for the dot
product's rotations), which SEAL accepts as 128-bit secure.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import tenseal as ts

__all__ = ["BaselineTiming", "time_column_tenseal", "time_naive_tenseal"]

_POLY_DEGREE = 8192
_MODULI = [60, 40, 40, 60]
_SCALE = 2.0**40


@dataclass(frozen=True)
class BaselineTiming:
    """A measured sample and its linear extrapolation to the whole gallery."""

    measured_templates: int
    measured_seconds: float
    ms_per_probe_scaled: float


def _context(*, galois: bool) -> ts.Context:
    context = ts.context(
        ts.SCHEME_TYPE.CKKS, poly_modulus_degree=_POLY_DEGREE, coeff_mod_bit_sizes=_MODULI
    )
    context.global_scale = _SCALE
    if galois:
        context.generate_galois_keys()
    return context


def time_naive_tenseal(gallery: np.ndarray, probe: np.ndarray, gallery_size: int) -> BaselineTiming:
    """Time enc.dot(probe) for each row of a sample and scale to ``gallery_size``."""
    context = _context(galois=True)
    encrypted = [ts.ckks_vector(context, row.tolist()) for row in gallery]
    plain_probe = probe.tolist()
    started = time.perf_counter()
    for vector in encrypted:
        vector.dot(plain_probe).decrypt()
    seconds = time.perf_counter() - started
    per_template_ms = 1e3 * seconds / len(encrypted)
    return BaselineTiming(len(encrypted), seconds, per_template_ms * gallery_size)


def time_column_tenseal(
    gallery: np.ndarray, probe: np.ndarray, gallery_size: int
) -> BaselineTiming:
    """Time one column-packed block (N/2 templates) and scale by the blocks needed."""
    context = _context(galois=False)
    slots = _POLY_DEGREE // 2
    block = np.zeros((slots, gallery.shape[1]))
    block[: min(slots, len(gallery))] = gallery[:slots]
    columns = [ts.ckks_vector(context, block[:, j].tolist()) for j in range(block.shape[1])]
    started = time.perf_counter()
    total = columns[0] * float(probe[0])
    for j in range(1, len(columns)):
        total += columns[j] * float(probe[j])
    total.decrypt()
    seconds = time.perf_counter() - started
    blocks = math.ceil(gallery_size / slots)
    return BaselineTiming(slots, seconds, 1e3 * seconds * blocks)
