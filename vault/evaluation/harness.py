"""What every mode's evaluation shares: in-memory collections fed in chunks, the
full score matrix, ephemeral transform keys, and the cross-key pair split."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from vault.core.transform_seeds import CollectionTransformKeys, EphemeralSeedSource
from vault.store.base import CollectionRecord

__all__ = [
    "Progress",
    "cross_pairs",
    "enroll_all",
    "ephemeral_keys",
    "quiet",
    "record",
    "score_matrix",
]

Progress = Callable[[str, int, int], None]
_ENROLL_CHUNK = 4096
_PROBE_CHUNK = 256


def record(name: str, mode: str, dim: int) -> CollectionRecord:
    """A collection record that exists only for the evaluation."""
    return CollectionRecord(name, mode, dim, 1, True, (), 0.3, 0.0)


def quiet(stage: str, done: int, total: int) -> None:
    """A progress callback that shows nothing."""


def enroll_all(collection: Any, units: np.ndarray, progress: Progress, stage: str) -> None:
    """Enrol every row, named by its index."""
    for first in range(0, len(units), _ENROLL_CHUNK):
        rows = units[first : first + _ENROLL_CHUNK]
        ids = [str(i) for i in range(first, first + len(rows))]
        collection.apply_enrollment(collection.plan_enrollment(ids, rows, enrolled_at=0.0))
        progress(stage, first + len(rows), len(units))


def score_matrix(collection: Any, units: np.ndarray, progress: Progress, stage: str) -> np.ndarray:
    """scores[i, j] = probe i against enrolled template j."""
    out = np.empty((len(units), len(units)))
    for first in range(0, len(units), _PROBE_CHUNK):
        ids, scores = collection.all_scores(units[first : first + _PROBE_CHUNK])
        out[first : first + len(scores)][:, np.array([int(i) for i in ids])] = scores
        progress(stage, min(first + _PROBE_CHUNK, len(units)), len(units))
    return out


def ephemeral_keys(
    source: EphemeralSeedSource, name: str, purpose: str, dim: int, out_dim: int
) -> CollectionTransformKeys:
    """Version 1 of a collection's transform keys, from seeds held in memory only."""
    keys = CollectionTransformKeys(source, name, purpose=purpose, dim=dim, out_dim=out_dim)
    keys.ensure_first()
    return keys


def cross_pairs(cross: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mated (same label, different sample) and non-mated scores across two keys."""
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    return cross[same & off_diagonal], cross[~same]
