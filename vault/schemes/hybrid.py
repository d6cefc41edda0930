"""Hybrid protection: a keyed dimension-reducing projection, then CKKS.

A template x becomes t = normalize(P_v x), P_v the collection's keyed matrix with
orthonormal rows for transform key version v (d -> d/2), and t is stored and scored
by the encrypted engine exactly like a ``ckks`` collection of dimension d/2:
half the ciphertexts per block, half the BLAS work per probe. Scores stay
cosine-type (<t_x, t_p> approximates <x, p>, a Johnson-Lindenstrauss projection).

What the transform adds on top of encryption is **renewal and unlinkability**: a new
key version makes new templates that do not match old ones, and two collections'
templates of one person are unlinkable even to someone holding the HE secret key.
What it does not add is irreversibility against an attacker who holds *both* the
transform key and the HE secret key: P_v^T t recovers the row-space part of x
(cosine ~0.7). No dot-product-scored transform that is cheaper than plain CKKS can
prevent that while keeping accuracy on real faces - see docs/protection.md.

Each subject's transform version lives in its subject row; probes are projected
once per live version and each subject is scored under its own version. With an
embedding profile (vault.schemes.profile) templates and probes are whitened before
the projection, which on anisotropic embeddings separates people better.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vault.he.keyset import CkksKeySet
from vault.schemes.base import TransformKeys
from vault.schemes.ckks import CkksCollection, EnrollmentPlan, ErasurePlan
from vault.schemes.ranking import top_k_matches
from vault.store.base import BlockRecord, CollectionRecord, SubjectRecord
from vault.types import Match

if TYPE_CHECKING:
    from vault.he.engine import GalleryEngineFactory
    from vault.keys.sealing import BlobSealer
    from vault.schemes.profile import EmbeddingProfile

__all__ = ["HybridCollection", "hybrid_dim"]


def hybrid_dim(dim: int) -> int:
    """Dimension after the keyed projection: half the template dimension."""
    return max(2, dim // 2)


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)


class HybridCollection:
    """A keyed projection in front of a :class:`CkksCollection` of dimension d/2."""

    def __init__(
        self,
        keyset: CkksKeySet,
        record: CollectionRecord,
        keys: TransformKeys,
        *,
        sealer: BlobSealer | None = None,
        profile: EmbeddingProfile | None = None,
        engines: GalleryEngineFactory | None = None,
    ) -> None:
        self.record = record
        self.transform_keys = keys
        self.profile = profile
        inner = dataclasses.replace(record, dim=hybrid_dim(record.dim))
        extra: dict[str, Any] = {} if sealer is None else {"sealer": sealer}
        self.inner = CkksCollection(keyset, inner, engines=engines, **extra)
        self._version: dict[str, int] = {}
        # Live templates per version, kept up to date so queries never walk all subjects.
        self._per_version: Counter[int] = Counter()
        self._own_cache: tuple[list[str], np.ndarray] | None = None

    # --- loading and bookkeeping ----------------------------------------------
    def load(self, blocks: Iterable[BlockRecord], subjects: Sequence[SubjectRecord]) -> None:
        self.inner.load(blocks, subjects)  # type: ignore[arg-type]
        for subject in subjects:
            # Fail at start-up, not at the first probe, if a seed is missing.
            self.transform_keys.matrix(subject.key_version)
            self._remember(subject)

    @property
    def size(self) -> int:
        return self.inner.size

    def location(self, subject_id: str) -> tuple[int, int] | None:
        return self.inner.location(subject_id)

    def version_of(self, subject_id: str) -> int:
        return self._version[subject_id]

    def counts_by_version(self) -> dict[int, int]:
        return {v: n for v, n in sorted(self._per_version.items()) if n}

    def _live_versions(self) -> list[int]:
        return sorted(v for v, n in self._per_version.items() if n)

    def _remember(self, subject: SubjectRecord) -> None:
        self._forget(subject.subject_id)
        self._version[subject.subject_id] = subject.key_version
        self._per_version[subject.key_version] += 1

    def _forget(self, subject_id: str) -> None:
        version = self._version.pop(subject_id, None)
        if version is not None:
            self._per_version[version] -= 1

    def subjects_before(self, version: int) -> list[str]:
        return sorted(s for s, v in self._version.items() if v < version)

    def transform(self, rows: np.ndarray, version: int) -> np.ndarray:
        """Unit templates -> unit projected rows under ``version`` (whitened first if
        the collection has an embedding profile: on anisotropic embeddings that
        halves the projection's EER on the proxy)."""
        whitened = rows if self.profile is None else self.profile.apply(rows)
        return _unit(self.transform_keys.matrix(version).apply(whitened))

    # --- enrolment and erasure ----------------------------------------------
    def plan_enrollment(
        self, subject_ids: Sequence[str], templates: np.ndarray, *, enrolled_at: float
    ) -> EnrollmentPlan:
        version = self.transform_keys.current_version()
        # Subject rows carry the transform version the template was made under.
        self.inner.record = dataclasses.replace(self.inner.record, key_version=version)
        return self.inner.plan_enrollment(
            subject_ids, self.transform(templates, version), enrolled_at=enrolled_at
        )

    def apply_enrollment(self, plan: EnrollmentPlan) -> None:
        self.inner.apply_enrollment(plan)
        for subject in plan.subjects:
            self._remember(subject)

    def plan_erasure(self, subject_id: str) -> ErasurePlan:
        return self.inner.plan_erasure(subject_id)

    def apply_erasure(self, plan: ErasurePlan) -> None:
        self.inner.apply_erasure(plan)
        self._forget(plan.subject_id)

    # --- matching -------------------------------------------------------------
    def verify_score(self, subject_id: str, probe: np.ndarray) -> float:
        projected = self.transform(probe[None, :], self._version[subject_id])
        return self.inner.verify_score(subject_id, projected[0])

    def unsafe_all_scores(self, probes: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Every live subject's decrypted score for each probe, each under its own key
        version (evaluation only: :class:`vault.schemes.base.UnsafeScoring`)."""
        return self._all_scores(probes)

    def _all_scores(self, probes: np.ndarray) -> tuple[list[str], np.ndarray]:
        versions = self._live_versions()
        if not versions:
            return [], np.empty((len(probes), 0))
        ids, scores = self.inner.unsafe_all_scores(self.transform(probes, versions[0]))
        if len(versions) > 1:
            # Score under every live version; keep, per subject, its own version's column.
            own = self._versions_of(ids)
            for version in versions[1:]:
                _, other = self.inner.unsafe_all_scores(self.transform(probes, version))
                scores = np.where(own[None, :] == version, other, scores)
        return ids, scores

    def _versions_of(self, ids: list[str]) -> np.ndarray:
        """Key version of each id, cached while the inner collection's id list (rebuilt
        on every enrolment and erasure) stays the same: no per-template work per query."""
        if self._own_cache is None or self._own_cache[0] is not ids:
            self._own_cache = (ids, np.array([self._version[s] for s in ids]))
        return self._own_cache[1]

    def identify(self, probes: np.ndarray, top_k: int) -> list[list[Match]]:
        versions = self._live_versions()
        if len(versions) == 1:
            return self.inner.identify(self.transform(probes, versions[0]), top_k)
        ids, scores = self._all_scores(probes)
        return top_k_matches(ids, scores, top_k)
