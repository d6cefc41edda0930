"""Synthetic face-like embeddings (see BRIEF.md): identity centres uniform on the
unit sphere, samples normalize(c + 0.7 n) with n ~ N(0, I/d) - genuine cosine about
0.67 and impostor 0.00 +- 0.044 at d = 512, close to ArcFace on LFW."""

from __future__ import annotations

import numpy as np

__all__ = ["SyntheticSet", "make_set"]


def _unit(values: np.ndarray) -> np.ndarray:
    return values / np.linalg.norm(values, axis=1, keepdims=True)


class SyntheticSet:
    """A gallery (one sample per identity) and probes (fresh samples of some of them)."""

    def __init__(self, gallery: np.ndarray, probes: np.ndarray, probe_rows: np.ndarray) -> None:
        self.gallery = gallery
        self.probes = probes
        self.probe_rows = probe_rows


def make_set(
    gallery: int, dim: int, probes: int, *, seed: int, spread: float = 0.7
) -> SyntheticSet:
    """Build a float32 gallery of ``gallery`` identities and ``probes`` genuine probes
    drawn from the first ``min(gallery, 8 * probes)`` identities (so that prefixes of
    the gallery contain them)."""
    rng = np.random.default_rng(seed)
    gallery_rows = np.empty((gallery, dim), dtype=np.float32)
    chosen = rng.choice(min(gallery, max(8 * probes, probes)), size=probes, replace=False)
    probe_rows = np.empty((probes, dim), dtype=np.float32)
    chunk = 65536
    centres_of_probes = {}
    for first in range(0, gallery, chunk):
        count = min(chunk, gallery - first)
        centres = _unit(rng.standard_normal((count, dim)))
        noise = rng.standard_normal((count, dim)) / np.sqrt(dim)
        gallery_rows[first : first + count] = _unit(centres + spread * noise)
        for row in chosen[(chosen >= first) & (chosen < first + count)]:
            centres_of_probes[int(row)] = centres[row - first]
    for index, row in enumerate(chosen):
        noise = rng.standard_normal(dim) / np.sqrt(dim)
        probe = centres_of_probes[int(row)] + spread * noise
        probe_rows[index] = probe / np.linalg.norm(probe)
    return SyntheticSet(gallery_rows, probe_rows, chosen)
