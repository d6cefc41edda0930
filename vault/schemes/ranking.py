"""Top-k selection shared by every scheme's identify."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vault.types import Match

__all__ = ["top_k_matches"]


def top_k_matches(ids: Sequence[str], scores: np.ndarray, top_k: int) -> list[list[Match]]:
    """Best ``top_k`` (id, score) per row of ``scores`` (P, len(ids)), best first."""
    k = min(top_k, len(ids))
    answers: list[list[Match]] = []
    for row in scores:
        if k == 0:
            answers.append([])
            continue
        best = np.argpartition(-row, k - 1)[:k]
        best = best[np.argsort(-row[best], kind="stable")]
        answers.append([Match(ids[i], float(row[i])) for i in best])
    return answers
