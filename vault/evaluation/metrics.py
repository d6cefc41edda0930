"""Verification accuracy from score sets: all pairs, EER, TAR at fixed FAR, DET.

Conventions: a higher score means "more similar"; a comparison is accepted when its
score is strictly above the threshold. FAR(t) = share of impostor scores > t,
FRR(t) = share of genuine scores <= t.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["det_curve", "eer", "pair_counts", "pair_scores", "tar_at_far"]


def pair_counts(labels: np.ndarray) -> tuple[int, int]:
    """(genuine, impostor) numbers of unordered pairs i < j."""
    _, counts = np.unique(labels, return_counts=True)
    genuine = int((counts * (counts - 1) // 2).sum())
    n = len(labels)
    return genuine, n * (n - 1) // 2 - genuine


def pair_scores(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Genuine and impostor scores of every unordered pair (i < j) of a square matrix.

    ``scores[i, j]`` is the score of probe i against enrolled template j.
    """
    i, j = np.triu_indices(len(labels), 1)
    same = labels[i] == labels[j]
    values = scores[i, j]
    return values[same], values[~same]


def _rates(genuine: np.ndarray, impostor: np.ndarray, thresholds: np.ndarray):
    gen, imp = np.sort(genuine), np.sort(impostor)
    frr = np.searchsorted(gen, thresholds, side="right") / len(gen)
    far = 1.0 - np.searchsorted(imp, thresholds, side="right") / len(imp)
    return far, frr


def eer(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Equal error rate: FAR and FRR at the threshold where they are closest, averaged.

    Thresholds range over every observed score (and just below the smallest), so
    the result is exact for the empirical distributions.
    """
    if len(genuine) == 0 or len(impostor) == 0:
        return math.nan
    values = np.unique(np.concatenate([genuine, impostor]))
    thresholds = np.concatenate([[np.nextafter(values[0], -np.inf)], values])
    far, frr = _rates(genuine, impostor, thresholds)
    k = int(np.argmin(np.abs(far - frr)))
    return float((far[k] + frr[k]) / 2)


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> float:
    """True accept rate at the lowest threshold whose FAR does not exceed ``far``."""
    if len(genuine) == 0 or len(impostor) == 0:
        return math.nan
    allowed = math.floor(far * len(impostor) + 1e-9)
    if allowed >= len(impostor):
        return 1.0
    threshold = np.sort(impostor)[::-1][allowed]
    return float(np.mean(genuine > threshold))


def det_curve(
    genuine: np.ndarray, impostor: np.ndarray, points: int = 400
) -> tuple[np.ndarray, np.ndarray]:
    """(FAR, FRR) at thresholds from the quantiles of both score sets (so that the
    tails of each - low FAR, low FRR - are resolved), in ascending threshold order."""
    levels = np.linspace(0.0, 1.0, points)
    thresholds = np.unique(
        np.concatenate([np.quantile(genuine, levels), np.quantile(impostor, levels)])
    )
    return _rates(genuine, impostor, thresholds)
