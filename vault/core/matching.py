"""Matching policy that keeps Verify and Identify from telling who is enrolled.

* Identify returns only candidates scoring at or above the collection's match
  threshold: a top-k regardless of score let one call of 4,096 random probes
  list every enrolled id, and let a hill-climber read the score of a chosen
  subject on every call.
* Verify of an id that is not enrolled is scored, like a mismatch, against a
  *decoy*: an enrolled subject picked by a keyed PRF of (collection, id), so the
  same unknown id meets the same decoy on every call (its scores look like one
  person's), the work done is the same as for a real subject, and its scores come
  from the same impostor distribution. A decoy never matches: a decoy score at or
  above the threshold (the probe happens to be the decoy's face) is replaced by
  the next decoy's, and at worst by a score just below the threshold.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from vault.schemes.base import ProtectedCollection
from vault.types import Match

__all__ = ["MAX_DECOY_TRIES", "DecoyPool", "above_threshold", "decoy_score"]

MAX_DECOY_TRIES = 3


def above_threshold(rows: Sequence[Sequence[Match]], threshold: float) -> list[list[Match]]:
    """Keep, per probe, the candidates whose exact score reaches ``threshold``."""
    return [[m for m in row if m.score is not None and m.score >= threshold] for row in rows]


class DecoyPool:
    """Enrolled ids of one collection to draw decoys from; thread-safe.

    Erasures are not reported here: an id that is no longer enrolled is dropped
    when it is drawn (so any erasure path, present or future, stays correct).
    """

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._lock = threading.Lock()

    def add(self, subject_ids: Iterable[str]) -> None:
        """Remember newly enrolled ids."""
        with self._lock:
            self._ids.extend(subject_ids)

    def draw(self, seed: int, enrolled: Callable[[str], bool]) -> str | None:
        """The enrolled id at ``seed`` (mod the pool), or None if none is enrolled."""
        with self._lock:
            while self._ids:
                index = seed % len(self._ids)
                candidate = self._ids[index]
                if enrolled(candidate):
                    return candidate
                self._ids[index] = self._ids[-1]  # erased: swap-remove, draw again
                self._ids.pop()
            return None


def decoy_score(
    target: ProtectedCollection,
    decoys: DecoyPool,
    seed: int,
    probe: np.ndarray,
    *,
    threshold: float,
    below: float,
) -> float:
    """A never-matching score of ``probe`` against the decoys ``seed`` picks
    (caller holds the collection's state lock).

    Args:
        target: The collection the unknown id was asked of.
        decoys: Its enrolled ids.
        seed: Keyed PRF of (collection, unknown id): the same id meets the same decoys.
        probe: The validated probe.
        threshold: The collection's match threshold.
        below: The score reported if every decoy tried matched (just under the threshold).
    """
    score = 0.0
    for attempt in range(MAX_DECOY_TRIES):
        decoy = decoys.draw(seed + attempt, lambda s: target.location(s) is not None)
        if decoy is None:
            return score  # an empty collection: nobody to tell apart
        score = target.verify_score(decoy, probe)
        if score < threshold:
            return score
    return min(score, below)
