"""Synthetic face-like embeddings (BRIEF.md): identity centres on the unit sphere,
samples normalize(c + 0.7 n) with n ~ N(0, I/d)."""

from __future__ import annotations

import numpy as np


def unit_rows(values: np.ndarray) -> np.ndarray:
    return values / np.linalg.norm(values, axis=1, keepdims=True)


def identities(count: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Identity centres, uniform on the unit sphere."""
    return unit_rows(rng.standard_normal((count, dim)))


def samples(centres: np.ndarray, rng: np.random.Generator, spread: float = 0.7) -> np.ndarray:
    """One noisy sample per centre (genuine cosine ~0.67 at d=512)."""
    dim = centres.shape[1]
    noise = rng.standard_normal(centres.shape) / np.sqrt(dim)
    return unit_rows(centres + spread * noise)


def anisotropic_people(
    count: int, per: int, dim: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``per`` samples of ``count`` identities whose variance falls off as a power law
    over a random basis - the shape of real face embeddings, which the isotropic
    :func:`identities` lacks. Returns (unit rows, labels)."""
    spectrum = np.arange(1, dim + 1) ** -0.6
    scale = np.sqrt(spectrum / spectrum.sum() * dim)
    basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    centres = unit_rows((rng.standard_normal((count, dim)) * scale) @ basis.T)
    noise = (rng.standard_normal((count * per, dim)) * scale / np.sqrt(dim)) @ basis.T
    rows = unit_rows(np.repeat(centres, per, axis=0) + 0.7 * noise)
    return rows, np.repeat(np.arange(count), per)
