"""Global unlinkability D_sys (Gomez-Barrero et al., IEEE TIFS 2018; ISO/IEC 30136).

Mated scores compare templates of the same subject protected under two different
keys; non-mated scores compare different subjects under two different keys. With
score histograms (``bins`` equal-width bins over the common range) and prior ratio
omega = 1::

    LR(s)  = p(s | mated) / p(s | non-mated)
    D(s)   = 0                        if omega * LR(s) <= 1
             2 omega LR / (1 + omega LR) - 1   otherwise (1 where p(s | non-mated) = 0)
    D_sys  = sum over bins of p(s | mated) * D(s)

0 means fully unlinkable, 1 fully linkable. Histogram noise biases D_sys slightly
upwards for small mated sets (a few hundredths at 100 bins and ~3000 mated scores).

**Subject-balanced estimate.** p(s | mated) is a property of the population of
subjects. Counting every pair alike estimates it badly on real face sets, where a
few people have hundreds of images (in LFW one person's 530 images alone give
140,185 mated pairs). Under two fixed keys a subject's mated scores cluster around
one value, so the pair-weighted histogram becomes a spike at that subject's value
and D_sys reads linkability that no attacker could use: on an LFW-shaped proxy,
0.03-0.23 pair-weighted against 0.02-0.03 balanced, with the same keys.
:func:`cross_key_unlinkability` therefore weighs each subject's mated pairs, and
each pair of subjects' non-mated pairs, equally in total. When every subject has
the same number of samples the weights are uniform and both estimates coincide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DEFAULT_BINS", "Unlinkability", "cross_key_unlinkability", "dsys"]

DEFAULT_BINS = 100
_ROW_CHUNK = 1024  # rows of the cross-key matrix histogrammed at a time


def _from_histograms(mated: np.ndarray, non_mated: np.ndarray) -> float:
    """D_sys from two (unnormalised, non-negative) histograms over the same bins."""
    p_mated = mated / mated.sum()
    p_non = non_mated / non_mated.sum()
    local = np.zeros(len(p_mated))
    only_mated = (p_non == 0) & (p_mated > 0)
    local[only_mated] = 1.0
    both = p_non > 0
    ratio = np.zeros(len(p_mated))
    ratio[both] = p_mated[both] / p_non[both]
    linked = both & (ratio > 1.0)
    local[linked] = 2.0 * ratio[linked] / (1.0 + ratio[linked]) - 1.0
    return float(np.sum(p_mated * local))


def _edges(low: float, high: float, bins: int) -> np.ndarray:
    return np.linspace(low, max(high, low + 1e-12), bins + 1)


def dsys(mated: np.ndarray, non_mated: np.ndarray, *, bins: int = DEFAULT_BINS) -> float:
    """Global unlinkability measure D_sys in [0, 1], every score counted alike."""
    if len(mated) == 0 or len(non_mated) == 0:
        return float("nan")
    edges = _edges(
        min(float(mated.min()), float(non_mated.min())),
        max(float(mated.max()), float(non_mated.max())),
        bins,
    )
    return _from_histograms(np.histogram(mated, edges)[0], np.histogram(non_mated, edges)[0])


def _scored_range(cross: np.ndarray) -> tuple[float, float]:
    """Smallest and largest scored (finite) entry off the diagonal, a block of rows
    at a time."""
    low, high = np.inf, -np.inf
    for first in range(0, len(cross), _ROW_CHUNK):
        block = cross[first : first + _ROW_CHUNK].copy()
        rows = np.arange(len(block))
        block[rows, first + rows] = np.nan
        values = block[np.isfinite(block)]
        if values.size:
            low, high = min(low, float(values.min())), max(high, float(values.max()))
    return low, high


@dataclass(frozen=True)
class Unlinkability:
    """D_sys between two keys, subject-balanced and pair-weighted."""

    balanced: float
    pair_weighted: float
    bins: int
    mated_pairs: int = 0
    non_mated_pairs: int = 0

    def document(self) -> dict[str, Any]:
        """The evaluation document's D_sys keys."""
        return {
            "dsys": self.balanced,
            "dsys_bins": self.bins,
            "dsys_pair_weighted": self.pair_weighted,
            "dsys_mated_pairs": self.mated_pairs,
            "dsys_non_mated_pairs": self.non_mated_pairs,
            "dsys_weighting": (
                "subject-balanced: each subject's mated pairs and each pair of subjects' "
                "non-mated pairs weigh the same in total (dsys_pair_weighted counts every "
                "pair alike; the two agree when subjects have equal sample counts)"
            ),
        }


def cross_key_unlinkability(
    cross: np.ndarray, labels: np.ndarray, *, bins: int = DEFAULT_BINS
) -> Unlinkability:
    """D_sys of ``cross[i, j]`` = template i under key A against template j under key B.

    Mated pairs: same label, i != j. Non-mated: different labels. Both ordered.
    NaN marks a pair that was not scored (a caller may score every mated pair and
    only a uniform sample of the non-mated ones); it is left out.
    """
    _, subject, counts = np.unique(labels, return_inverse=True, return_counts=True)
    subject = subject.reshape(-1)
    per_template = 1.0 / counts[subject]  # 1 / n_s
    per_mate = np.zeros(len(labels))  # 1 / (n_s - 1), 0 for a singleton
    has_mates = counts[subject] > 1
    per_mate[has_mates] = 1.0 / (counts[subject][has_mates] - 1)
    low, high = _scored_range(cross)
    if not has_mates.any() or len(counts) < 2 or low > high:
        nan = float("nan")
        return Unlinkability(nan, nan, bins)
    edges = _edges(low, high, bins)
    counted = {"mated": np.zeros(bins), "non": np.zeros(bins)}  # every pair alike
    balanced = {"mated": np.zeros(bins), "non": np.zeros(bins)}  # subject-balanced
    for first in range(0, len(labels), _ROW_CHUNK):
        rows = np.arange(first, min(first + _ROW_CHUNK, len(labels)))
        block = cross[rows]
        scored = np.isfinite(block)
        scored[np.arange(len(rows)), rows] = False
        same = subject[rows, None] == subject[None, :]
        for kind, chosen, weights in (
            # 1 / (n_s (n_s - 1)) for a mated pair, 1 / (n_a n_b) for a non-mated one
            ("mated", same & scored, per_template[rows, None] * per_mate[None, :]),
            ("non", ~same & scored, per_template[rows, None] * per_template[None, :]),
        ):
            values = block[chosen]
            counted[kind] += np.histogram(values, edges)[0]
            balanced[kind] += np.histogram(values, edges, weights=weights[chosen])[0]
    if not counted["mated"].sum() or not counted["non"].sum():
        nan = float("nan")
        return Unlinkability(nan, nan, bins)
    return Unlinkability(
        balanced=_from_histograms(balanced["mated"], balanced["non"]),
        pair_weighted=_from_histograms(counted["mated"], counted["non"]),
        bins=bins,
        mated_pairs=int(counted["mated"].sum()),
        non_mated_pairs=int(counted["non"].sum()),
    )
