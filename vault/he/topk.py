"""Top-k columns of a score matrix, fast: the selection both engines share.

The k largest maxima of fixed spans of columns are k distinct scores, so the k-th
best score is at least the k-th largest span maximum: only scores at or above it
(a few per span touched) can be in the top k. That is one max pass and one
compare pass per row instead of a full argpartition with its index array.
"""

from __future__ import annotations

import numpy as np

__all__ = ["top_columns"]

_TOPK_SPAN = 4096  # columns per span whose maximum bounds the k-th best from below


def top_columns(scores: np.ndarray, k: int) -> list[np.ndarray]:
    """The ``k`` best column indices of each row, best first.

    Args:
        scores: (rows, columns) float scores; masked columns hold -inf.
        k: How many per row (at most the number of columns).
    """
    k = min(k, scores.shape[1] if scores.ndim == 2 else 0)
    if k <= 0 or len(scores) == 0:
        return [np.empty(0, dtype=np.intp) for _ in range(len(scores))]
    spans = scores.shape[1] // _TOPK_SPAN
    bound = None
    if spans >= k:
        maxima = scores[:, : spans * _TOPK_SPAN].reshape(len(scores), spans, _TOPK_SPAN)
        bound = np.partition(maxima.max(axis=2), spans - k, axis=1)[:, spans - k]
    answers: list[np.ndarray] = []
    for row in range(len(scores)):
        values = scores[row]
        candidates = (
            np.arange(len(values)) if bound is None else np.flatnonzero(values >= bound[row])
        )
        picked = values[candidates]
        best = np.argpartition(-picked, k - 1)[:k]
        answers.append(candidates[best[np.argsort(-picked[best], kind="stable")]])
    return answers
