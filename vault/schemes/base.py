"""What the core needs from a protected collection, whatever protects it.

:class:`~vault.schemes.ckks.CkksCollection`,
:class:`~vault.schemes.cancelable.CancelableCollection` and
:class:`~vault.schemes.hybrid.HybridCollection` all provide it: plans are computed
without changing memory, committed by the core, then applied. Each scheme has
plan types of its own; the protocols below name what the core reads of them, and
:class:`ProtectedCollection` is generic in them so that mypy checks every scheme's
plans against those fields.

What is deliberately *not* here: scoring every live subject at once. Only the
in-process evaluation tools need that, through :class:`UnsafeScoring`, which no
collection the core holds is typed as.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

import numpy as np

from vault.store.base import BlockRecord, CollectionRecord, SubjectRecord
from vault.types import Match

if TYPE_CHECKING:
    from vault.schemes.profile import EmbeddingProfile
    from vault.schemes.transform_key import KeyedMatrix

__all__ = [
    "BulkErasing",
    "KeyedCollection",
    "PlannedBlockErasure",
    "PlannedEnrollment",
    "PlannedErasure",
    "ProtectedCollection",
    "TransformKeys",
    "UnsafeScoring",
]


class PlannedEnrollment(Protocol):
    """An enrolment computed but not yet visible: what the store commits."""

    @property
    def blocks(self) -> tuple[BlockRecord, ...]:
        """New or rewritten blocks."""
        ...

    @property
    def subjects(self) -> tuple[SubjectRecord, ...]:
        """The enrolled subjects' rows."""
        ...


class PlannedErasure(Protocol):
    """One subject's erasure computed but not yet visible."""

    @property
    def subject_id(self) -> str:
        """Whom it erases."""
        ...

    @property
    def block_no(self) -> int:
        """The block that held the subject."""
        ...

    @property
    def replacement(self) -> BlockRecord | None:
        """The block rewritten without the subject (None: drop the block)."""
        ...


class PlannedBlockErasure(Protocol):
    """Several subjects of one block erased in one rewrite (or a drop)."""

    @property
    def block_no(self) -> int:
        """The block."""
        ...

    @property
    def subject_ids(self) -> tuple[str, ...]:
        """Whom it erases."""
        ...

    @property
    def replacement(self) -> BlockRecord | None:
        """The rewritten block (None: drop it)."""
        ...


EnrollT = TypeVar("EnrollT", bound=PlannedEnrollment)
EraseT = TypeVar("EraseT", bound=PlannedErasure)
BulkT = TypeVar("BulkT", bound=PlannedBlockErasure)


class ProtectedCollection(Protocol[EnrollT, EraseT]):
    """A collection's protected templates in memory, plus their slot map.

    ``EnrollT`` and ``EraseT`` are the scheme's own plan types: a plan goes back to
    the collection that made it, after the core has committed it.
    """

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
    ) -> EnrollT:
        """Protect and place unit templates."""
        ...

    def apply_enrollment(self, plan: EnrollT) -> None:
        """Make a committed enrolment visible."""
        ...

    def plan_erasure(self, subject_id: str) -> EraseT:
        """Erase one live subject: rewrite its block, or drop it."""
        ...

    def apply_erasure(self, plan: EraseT) -> None:
        """Make a committed erasure visible."""
        ...

    def verify_score(self, subject_id: str, probe: np.ndarray) -> float:
        """Score of one unit probe against one live subject."""
        ...

    def identify(self, probes: np.ndarray, top_k: int) -> list[list[Match]]:
        """Top-k per unit probe row, best first."""
        ...


@runtime_checkable
class BulkErasing(Protocol[BulkT]):
    """A collection that erases many subjects at block cost (ckks, hybrid)."""

    def plan_bulk_erasure(self, subject_ids: Sequence[str]) -> list[BulkT]:
        """One plan per block the live ``subject_ids`` touch."""
        ...

    def apply_bulk_erasure(self, plan: BulkT) -> None:
        """Make one committed block's erasure visible."""
        ...


class TransformKeys(Protocol):
    """A collection's transform keys (implemented in vault.schemes.seeds)."""

    def current_version(self) -> int:
        """Key version new enrolments use."""
        ...

    def matrix(self, version: int) -> KeyedMatrix:
        """The keyed matrix of one version (IntegrityError if unknown)."""
        ...

    def renew(self) -> int:
        """Start and return a new key version (renewal, ISO/IEC 24745)."""
        ...


@runtime_checkable
class KeyedCollection(Protocol):
    """A collection protected under renewable transform keys (cancelable, hybrid)."""

    transform_keys: TransformKeys
    #: The public whitening profile its templates and probes go through (None: none).
    profile: EmbeddingProfile | None

    def counts_by_version(self) -> dict[int, int]:
        """Live templates per transform key version."""
        ...

    def subjects_before(self, version: int) -> list[str]:
        """Live subjects enrolled under a key version older than ``version``."""
        ...


@runtime_checkable
class UnsafeScoring(Protocol):
    """Every live subject's score at once: for in-process evaluation only.

    Exact score vectors of a whole gallery are what a hill-climbing attacker wants,
    so this never leaves the process that built the collection: the serving core
    does not call it, and nothing served reaches it (tests/core/test_unsafe_paths.py).
    """

    def unsafe_all_scores(self, probes: np.ndarray) -> tuple[list[str], np.ndarray]:
        """(live subject ids, scores of shape (probes, ids)) for unit probe rows."""
        ...
