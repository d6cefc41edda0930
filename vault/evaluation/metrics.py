"""Verification accuracy from score sets: all pairs, EER, TAR at fixed FAR, DET.

Conventions: a higher score means "more similar"; a comparison is accepted when its
score is strictly above the threshold. FAR(t) = share of impostor scores > t,
FRR(t) = share of genuine scores <= t.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

__all__ = ["Comparisons", "det_curve", "eer", "pair_counts", "pair_scores", "tar_at_far"]


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
    # Row by row into arrays of the known sizes: triu_indices would take two n^2/2
    # int64 index arrays (1.4 GB at n = 13,000, an LFW-sized set), and concatenating
    # row pieces would hold every score twice.
    genuine_count, impostor_count = pair_counts(labels)
    genuine = np.empty(genuine_count, dtype=scores.dtype)
    impostor = np.empty(impostor_count, dtype=scores.dtype)
    genuine_at = impostor_at = 0
    for i in range(len(labels) - 1):
        row, same = scores[i, i + 1 :], labels[i + 1 :] == labels[i]
        mated, non_mated = row[same], row[~same]
        genuine[genuine_at : genuine_at + len(mated)] = mated
        impostor[impostor_at : impostor_at + len(non_mated)] = non_mated
        genuine_at += len(mated)
        impostor_at += len(non_mated)
    return genuine, impostor


class Comparisons:
    """Genuine and impostor scores, each sorted once for every rate taken from them.

    An LFW-sized set has ~87 million impostor pairs; sorting them again for each
    rate (and searching every observed score as a threshold) took minutes.
    """

    def __init__(
        self, genuine: np.ndarray, impostor: np.ndarray, *, in_place: bool = False
    ) -> None:
        """``in_place``: sort the given arrays themselves (the caller hands them over)
        rather than sorted copies - at 87 million impostor scores a copy is 0.35 GB."""
        genuine, impostor = np.asarray(genuine), np.asarray(impostor)
        self._dtype = np.result_type(genuine.dtype, impostor.dtype)
        self.genuine = genuine.astype(self._dtype, copy=not in_place)
        self.impostor = impostor.astype(self._dtype, copy=not in_place)
        self.genuine.sort()
        self.impostor.sort()

    @classmethod
    def of_matrix(cls, scores: np.ndarray, labels: np.ndarray) -> Comparisons:
        """Every unordered pair of a square score matrix (see :func:`pair_scores`)."""
        return cls(*pair_scores(scores, labels), in_place=True)

    def _search(self, values: np.ndarray, threshold: float, side: Literal["left", "right"]) -> int:
        # A threshold of another dtype would make numpy convert the whole array for
        # every search (~10 ms at 87 million scores); every threshold used here is an
        # observed score or the next value below one, so the cast is exact.
        return int(np.searchsorted(values, self._dtype.type(threshold), side))

    def _counts(self, threshold: float) -> tuple[int, int]:
        """(impostors above, genuines at or below) ``threshold``."""
        above = len(self.impostor) - self._search(self.impostor, threshold, "right")
        return above, self._search(self.genuine, threshold, "right")

    def _gap(self, threshold: float) -> int:
        """(FAR - FRR) * n_genuine * n_impostor, exact in integers (ties stay ties)."""
        above, below = self._counts(threshold)
        return above * len(self.genuine) - below * len(self.impostor)

    def _first_crossing(self, values: np.ndarray) -> float | None:
        """The smallest of the sorted ``values`` at which FAR <= FRR (None if none)."""
        low, high = 0, len(values)
        while low < high:
            middle = (low + high) // 2
            if self._gap(values[middle]) <= 0:
                high = middle
            else:
                low = middle + 1
        return None if low == len(values) else float(values[low])

    def eer(self) -> float:
        """Equal error rate: FAR and FRR at the threshold where they are closest, averaged.

        Thresholds range over every observed score (and just below the smallest), so
        the result is exact for the empirical distributions. FAR - FRR falls strictly
        from one observed score to the next, so the closest point is the first score
        where FAR <= FRR or the observed score just below it (the lower one on an
        exact tie); two binary searches find both without trying every score.
        """
        gen, imp = self.genuine, self.impostor
        if len(gen) == 0 or len(imp) == 0:
            return math.nan
        crossings = [self._first_crossing(gen), self._first_crossing(imp)]
        at = min(value for value in crossings if value is not None)
        below = [a[self._search(a, at, "left") - 1] for a in (gen, imp) if a[0] < at]
        lowest = min(gen[0], imp[0])
        before = max(below) if below else np.nextafter(lowest, self._dtype.type(-np.inf))
        chosen = before if abs(self._gap(before)) <= abs(self._gap(at)) else at
        above, below_count = self._counts(chosen)
        return (above / len(imp) + below_count / len(gen)) / 2

    def threshold_at_far(self, far: float) -> float:
        """The lowest threshold that at most ``far`` of the impostor scores exceed."""
        allowed = math.floor(far * len(self.impostor) + 1e-9)
        return float(self.impostor[len(self.impostor) - 1 - allowed])

    def tar_at_far(self, far: float) -> float:
        """True accept rate at the lowest threshold whose FAR does not exceed ``far``."""
        gen, imp = self.genuine, self.impostor
        if len(gen) == 0 or len(imp) == 0:
            return math.nan
        if math.floor(far * len(imp) + 1e-9) >= len(imp):
            return 1.0
        accepted = len(gen) - self._search(gen, self.threshold_at_far(far), "right")
        return float(accepted / len(gen))

    def det_curve(self, points: int = 400) -> tuple[np.ndarray, np.ndarray]:
        """(FAR, FRR) at thresholds from the quantiles of both score sets (so that the
        tails of each - low FAR, low FRR - are resolved), in ascending threshold order.

        The sets are sorted already, so a quantile is an index and a rate a binary
        search: no copy of 87 million impostor scores per curve.
        """
        levels = np.linspace(0.0, 1.0, points)
        thresholds = np.unique(
            np.concatenate(
                [
                    values[np.round(levels * (len(values) - 1)).astype(int)]
                    for values in (self.genuine, self.impostor)
                ]
            )
        )
        frr = np.searchsorted(self.genuine, thresholds, side="right") / len(self.genuine)
        far = 1.0 - np.searchsorted(self.impostor, thresholds, side="right") / len(self.impostor)
        return far, frr


def eer(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Equal error rate of two score sets (see :meth:`Comparisons.eer`)."""
    return Comparisons(genuine, impostor).eer()


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> float:
    """True accept rate at the lowest threshold whose FAR does not exceed ``far``."""
    return Comparisons(genuine, impostor).tar_at_far(far)


def det_curve(
    genuine: np.ndarray, impostor: np.ndarray, points: int = 400
) -> tuple[np.ndarray, np.ndarray]:
    """(FAR, FRR) of two score sets (see :meth:`Comparisons.det_curve`)."""
    return Comparisons(genuine, impostor).det_curve(points)
