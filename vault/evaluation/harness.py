"""What every mode's evaluation shares: in-memory collections fed in chunks, the
score matrix (whole, or its upper triangle for a symmetric matcher), ephemeral
transform keys, and the cross-fitted whitening profiles of the keyed modes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from vault.errors import InvalidArgument
from vault.schemes.base import ProtectedCollection, UnsafeScoring
from vault.schemes.profile import EmbeddingProfile
from vault.schemes.seeds import CollectionTransformKeys, EphemeralSeedSource
from vault.store.base import CollectionRecord

__all__ = [
    "SCORE_DTYPE",
    "EvaluatedCollection",
    "Progress",
    "Segment",
    "Whitening",
    "enroll_all",
    "enroll_segments",
    "ephemeral_keys",
    "max_abs_difference",
    "products",
    "quiet",
    "record",
    "score_matrix",
    "upper_score_matrix",
    "whiten_by_halves",
]

Progress = Callable[[str, int, int], None]
_ENROLL_CHUNK = 4096
_PROBE_CHUNK = 256
#: Rows per float64 block of a product: 512 x n x 8 bytes (54 MB at n = 13,233), small
#: beside the n x n result however large n grows.
_PRODUCT_ROWS = 512
#: Gallery rows per collection when only the upper triangle is scored.
_SEGMENT = 2048
#: Score matrices are n x n; float32 halves them (0.7 GB, not 1.4, at n = 13,233),
#: and its resolution (6e-8 near 1) is far below any score error measured here.
SCORE_DTYPE = np.float32


class EvaluatedCollection(ProtectedCollection[Any, Any], UnsafeScoring, Protocol):
    """A scheme's collection built in process, enrolled and then scored whole (every
    scheme collection is one; the serving core never holds one as such)."""


def record(name: str, mode: str, dim: int) -> CollectionRecord:
    """A collection record that exists only for the evaluation."""
    return CollectionRecord(name, mode, dim, 1, True, (), 0.3, 0.0)


def quiet(stage: str, done: int, total: int) -> None:
    """A progress callback that shows nothing."""


def _enroll(collection: EvaluatedCollection, units: np.ndarray, first: int, last: int) -> None:
    """Enrol rows [first, last), each named by its index."""
    ids = [str(i) for i in range(first, last)]
    collection.apply_enrollment(collection.plan_enrollment(ids, units[first:last], enrolled_at=0.0))


def enroll_all(
    collection: EvaluatedCollection, units: np.ndarray, progress: Progress, stage: str
) -> None:
    """Enrol every row, named by its index."""
    for first in range(0, len(units), _ENROLL_CHUNK):
        last = min(first + _ENROLL_CHUNK, len(units))
        _enroll(collection, units, first, last)
        progress(stage, last, len(units))


def score_matrix(
    collection: EvaluatedCollection, units: np.ndarray, progress: Progress, stage: str
) -> np.ndarray:
    """scores[i, j] = probe i against enrolled template j."""
    out = np.empty((len(units), len(units)), dtype=SCORE_DTYPE)
    columns: np.ndarray | None = None
    for first in range(0, len(units), _PROBE_CHUNK):
        ids, scores = collection.unsafe_all_scores(units[first : first + _PROBE_CHUNK])
        if columns is None:  # the enrolled ids do not change while we score
            columns = np.array([int(i) for i in ids])
        out[first : first + len(scores)][:, columns] = scores
        progress(stage, min(first + _PROBE_CHUNK, len(units)), len(units))
    return out


def products(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """left @ right.T in float64, kept as SCORE_DTYPE, a block of rows at a time (no
    n x n float64 temporary). For left @ left.T only the blocks on and above the
    diagonal are multiplied and mirrored: half the work, as in a symmetric BLAS kernel."""
    out = np.empty((len(left), len(right)), dtype=SCORE_DTYPE)
    symmetric = left is right
    for first in range(0, len(left), _PRODUCT_ROWS):
        last = min(first + _PRODUCT_ROWS, len(left))
        if symmetric:
            block = left[first:last] @ right[first:].T
            out[first:last, first:] = block
            out[last:, first:last] = block[:, last - first :].T
        else:
            out[first:last] = left[first:last] @ right.T
    return out


def max_abs_difference(scores: np.ndarray, left: np.ndarray, right: np.ndarray) -> float:
    """max |scores - left @ right.T|, the reference in float64 a block of rows at a time."""
    worst = 0.0
    for first in range(0, len(left), _PRODUCT_ROWS):
        reference = left[first : first + _PRODUCT_ROWS] @ right.T
        difference = np.abs(scores[first : first + _PRODUCT_ROWS] - reference)
        worst = max(worst, float(difference.max()))
    return worst


C = TypeVar("C", bound=EvaluatedCollection)


@dataclass(frozen=True)
class Segment(Generic[C]):
    """A collection holding rows [first, last) of the evaluated set, named by index."""

    first: int
    last: int
    collection: C


def enroll_segments(
    make: Callable[[], C],
    units: np.ndarray,
    progress: Progress,
    stage: str,
    *,
    rows: int = _SEGMENT,
) -> list[Segment[C]]:
    """Enrol consecutive runs of ``rows`` rows into fresh collections from ``make``
    (all under the same keys), for :func:`upper_score_matrix`."""
    segments = []
    for first in range(0, len(units), rows):
        last = min(first + rows, len(units))
        segments.append(Segment(first, last, make()))
        _enroll(segments[-1].collection, units, first, last)
        progress(stage, last, len(units))
    return segments


def upper_score_matrix(
    segments: Sequence[Segment[Any]], units: np.ndarray, progress: Progress, stage: str
) -> np.ndarray:
    """scores[i, j] = probe i against template j for every i < j, which is all that
    :func:`vault.evaluation.metrics.pair_scores` reads, by the segments' own scoring.

    A chunk of probes skips the segments that hold only templates at or before it,
    so a matcher as costly as the cancelable one does about half the work of the
    full matrix. Entries below the diagonal are NaN where a segment was skipped.
    """
    out = np.full((len(units), len(units)), np.nan, dtype=SCORE_DTYPE)
    columns: dict[int, np.ndarray] = {}  # per segment; its ids do not change while we score
    for first in range(0, len(units), _PROBE_CHUNK):
        probes = units[first : first + _PROBE_CHUNK]
        for segment in segments:
            if segment.last - 1 <= first:
                continue  # no template here comes after any probe of the chunk
            ids, scores = segment.collection.unsafe_all_scores(probes)
            if segment.first not in columns:
                columns[segment.first] = np.array([int(i) for i in ids])
            out[first : first + len(probes)][:, columns[segment.first]] = scores
        progress(stage, min(first + _PROBE_CHUNK, len(units)), len(units))
    return out


def ephemeral_keys(
    source: EphemeralSeedSource, name: str, purpose: str, dim: int, out_dim: int
) -> CollectionTransformKeys:
    """Version 1 of a collection's transform keys, from seeds held in memory only."""
    keys = CollectionTransformKeys(source, name, purpose=purpose, dim=dim, out_dim=out_dim)
    keys.ensure_first()
    return keys


def _subject_halves(labels: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Two masks that split the subjects (not the samples) at random."""
    subjects = rng.permutation(np.unique(labels))
    first = np.isin(labels, subjects[: len(subjects) // 2])
    return [first, ~first]


def _cross_fitted_profiles(
    units: np.ndarray,
    halves: list[np.ndarray],
    given: EmbeddingProfile | None,
    whiten: bool,
) -> list[EmbeddingProfile | None]:
    """The profile each half is whitened with: ``given`` for both, or each fitted on
    the other half's embeddings - so that, as deployed, no template is whitened by
    statistics that include it (fitting on the evaluated templates overfits).

    Raises:
        InvalidArgument: ``given`` is for another dimension.
    """
    if not whiten:
        return [None, None]
    if given is not None:
        if given.dim != units.shape[1]:
            raise InvalidArgument(f"the profile is for dimension {given.dim}, not {units.shape[1]}")
        return [given, given]
    if min(np.count_nonzero(half) for half in halves) < 2:
        return [None, None]  # too few to cross-fit; the document says so
    # Not stored anywhere, so a small half may be fitted (its shrinkage grows).
    return [EmbeddingProfile.fit(units[~half], minimum=2) for half in halves]


def _whitened(
    units: np.ndarray, halves: list[np.ndarray], profiles: list[EmbeddingProfile | None]
) -> np.ndarray:
    """Each half's rows whitened with its profile (unchanged where it has none)."""
    out = units.copy()
    for half, profile in zip(halves, profiles, strict=True):
        if profile is not None:
            out[half] = profile.apply(units[half])
    return out


def _profile_source(
    whiten: bool, given: EmbeddingProfile | None, profiles: list[EmbeddingProfile | None]
) -> str:
    """How the evaluated templates were whitened, for the evaluation document."""
    if not whiten:
        return "none"
    if given is not None:
        return "given"
    if profiles[0] is None:
        return "none: too few embeddings to cross-fit one (pass --profile)"
    return (
        "cross-fitted: each half of the subjects whitened with a profile "
        "fitted on the other half (Ledoit-Wolf)"
    )


@dataclass(frozen=True)
class Whitening:
    """How a keyed-mode evaluation whitened its templates.

    ``prepared`` holds the rows as the collections receive them; ``halves[i]`` was
    whitened with ``profiles[i]`` (None: left as is).
    """

    halves: list[np.ndarray]
    profiles: list[EmbeddingProfile | None]
    prepared: np.ndarray
    source: str

    def document(self, scheme: str) -> dict[str, Any]:
        """The evaluation document's profile keys and its ``scheme`` description."""
        applied = self.profiles[0] is not None
        return {
            "embedding_profile": self.source,
            "embedding_profile_shrinkage": [p.shrinkage for p in self.profiles if p is not None],
            "scheme": scheme + (", after whitening with an embedding profile" if applied else ""),
        }


def whiten_by_halves(
    units: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    given: EmbeddingProfile | None,
    whiten: bool,
) -> Whitening:
    """Split the subjects in two halves and whiten each (see :func:`_cross_fitted_profiles`).

    Raises:
        InvalidArgument: ``given`` is for another dimension.
    """
    halves = _subject_halves(labels, rng)
    profiles = _cross_fitted_profiles(units, halves, given, whiten)
    return Whitening(
        halves,
        profiles,
        _whitened(units, halves, profiles),
        _profile_source(whiten, given, profiles),
    )
