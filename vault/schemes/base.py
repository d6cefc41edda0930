"""What the core needs from a protected collection, whatever protects it.

:class:`~vault.schemes.ckks.CkksCollection`,
:class:`~vault.schemes.cancelable.CancelableCollection` and
:class:`~vault.schemes.hybrid.HybridCollection` all provide it: plans are computed
without changing memory, committed by the core, then applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from vault.store.base import BlockRecord, CollectionRecord, SubjectRecord
from vault.types import Match

__all__ = ["ProtectedCollection"]


class ProtectedCollection(Protocol):
    """A collection's protected templates in memory, plus their slot map."""

    record: CollectionRecord

    @property
    def size(self) -> int:
        """Live templates."""
        ...

    def load(self, blocks: Iterable[BlockRecord], subjects: Sequence[SubjectRecord]) -> None:
        """Fill memory from stored blocks and subject rows."""
        ...

    def location(self, subject_id: str) -> tuple[int, int] | None:
        """(block, slot) of a live subject, or None."""
        ...

    def plan_enrollment(
        self, subject_ids: Sequence[str], templates: np.ndarray, *, enrolled_at: float
    ) -> Any:
        """Protect and place unit templates; the plan has ``blocks`` and ``subjects``."""
        ...

    def apply_enrollment(self, plan: Any) -> None:
        """Make a committed enrolment visible."""
        ...

    def plan_erasure(self, subject_id: str) -> Any:
        """The plan has ``block_no`` and ``replacement`` (None: drop the block)."""
        ...

    def apply_erasure(self, plan: Any) -> None:
        """Make a committed erasure visible."""
        ...

    def verify_score(self, subject_id: str, probe: np.ndarray) -> float:
        """Score of one unit probe against one live subject."""
        ...

    def identify(self, probes: np.ndarray, top_k: int) -> list[list[Match]]:
        """Top-k per unit probe row, best first."""
        ...

    def all_scores(self, probes: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Every live subject's score per probe (evaluation only)."""
        ...
