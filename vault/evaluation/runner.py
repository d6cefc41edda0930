"""``biovault evaluate``: one protection mode against the unprotected baseline.

Every template is enrolled and used as a probe against every other: all genuine
pairs (same label) and all impostor pairs (different labels), i < j. The protected
scores come from the product's own code paths (the same collection classes the
served vault uses, in memory, with ephemeral keys); for the keyed modes every
template is under one collection key - the stolen-key scenario of ISO/IEC 30136.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vault.core.transform_seeds import CollectionTransformKeys, EphemeralSeedSource
from vault.errors import InvalidArgument
from vault.evaluation import attack
from vault.evaluation.dsys import DEFAULT_BINS, dsys
from vault.evaluation.metrics import eer, pair_counts, pair_scores, tar_at_far
from vault.schemes.cancelable import CancelableCollection
from vault.schemes.ckks import CkksCollection
from vault.schemes.hybrid import HybridCollection, hybrid_dim
from vault.schemes.orbit import max_correlation, spectra
from vault.schemes.validation import validate_templates
from vault.store.base import CollectionRecord

__all__ = ["MODES", "EvaluationResult", "evaluate"]

MODES = ("plaintext", "ckks", "cancelable", "hybrid")
FARS = {"1e-3": 1e-3, "1e-4": 1e-4}
_ENROLL_CHUNK = 4096
_PROBE_CHUNK = 256
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class EvaluationResult:
    """The contract's JSON document plus the score sets for plotting."""

    document: dict[str, Any]
    genuine: np.ndarray
    impostor: np.ndarray
    plain_genuine: np.ndarray
    plain_impostor: np.ndarray


def _record(name: str, mode: str, dim: int) -> CollectionRecord:
    return CollectionRecord(name, mode, dim, 1, True, (), 0.3, 0.0)


def _quiet(stage: str, done: int, total: int) -> None:
    pass


def _enroll(collection: Any, units: np.ndarray, progress: Progress, stage: str) -> None:
    for first in range(0, len(units), _ENROLL_CHUNK):
        rows = units[first : first + _ENROLL_CHUNK]
        ids = [str(i) for i in range(first, first + len(rows))]
        collection.apply_enrollment(collection.plan_enrollment(ids, rows, enrolled_at=0.0))
        progress(stage, first + len(rows), len(units))


def _score_matrix(collection: Any, units: np.ndarray, progress: Progress, stage: str) -> np.ndarray:
    """scores[i, j] = probe i against enrolled template j."""
    out = np.empty((len(units), len(units)))
    for first in range(0, len(units), _PROBE_CHUNK):
        ids, scores = collection.all_scores(units[first : first + _PROBE_CHUNK])
        out[first : first + len(scores)][:, np.array([int(i) for i in ids])] = scores
        progress(stage, min(first + _PROBE_CHUNK, len(units)), len(units))
    return out


def _keys(source: EphemeralSeedSource, name: str, purpose: str, dim: int, out_dim: int):
    keys = CollectionTransformKeys(source, name, purpose=purpose, dim=dim, out_dim=out_dim)
    keys.ensure_first()
    return keys


def _cross_pairs(cross: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mated (same label, different sample) and non-mated scores across two keys."""
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    return cross[same & off_diagonal], cross[~same]


def evaluate(
    embeddings: np.ndarray,
    labels: np.ndarray,
    mode: str,
    *,
    seed: int = 0,
    progress: Progress = _quiet,
) -> EvaluationResult:
    """Evaluate ``mode`` on (n, d) embeddings with n labels.

    Raises:
        InvalidArgument: Unknown mode, misaligned or too few labels, bad embeddings.
    """
    if mode not in MODES:
        raise InvalidArgument(f"mode must be one of {', '.join(MODES)}")
    if embeddings.ndim != 2:
        raise InvalidArgument("embeddings must have shape (n, dim)")
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(embeddings):
        raise InvalidArgument(
            f"{len(labels)} labels for {len(embeddings)} embeddings; they must align"
        )
    units = validate_templates(embeddings, embeddings.shape[1], what="embeddings")
    genuine_pairs, impostor_pairs = pair_counts(labels)
    if genuine_pairs == 0 or impostor_pairs == 0:
        raise InvalidArgument("labels must give at least one genuine and one impostor pair")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    plain = units @ units.T
    plain_gen, plain_imp = pair_scores(plain, labels)
    tau = float(np.sort(plain_imp)[::-1][math.floor(1e-3 * len(plain_imp))])
    doc: dict[str, Any] = {
        "mode": mode,
        "templates": len(units),
        "dim": units.shape[1],
        "genuine_pairs": genuine_pairs,
        "impostor_pairs": impostor_pairs,
    }
    extra: dict[str, Any] = {}
    if mode == "plaintext":
        scores = plain
    elif mode == "ckks":
        scores, error = _ckks_scores(units, progress)
        extra["max_abs_score_error"] = error
    elif mode == "cancelable":
        scores, extra = _cancelable(units, labels, tau, rng, progress)
    else:
        scores, extra = _hybrid(units, labels, tau, rng, progress)
    gen, imp = pair_scores(scores, labels)
    doc.update(
        eer=eer(gen, imp),
        tar_at_far={key: tar_at_far(gen, imp, far) for key, far in FARS.items()},
        plaintext_eer=eer(plain_gen, plain_imp),
        plaintext_tar_at_far={
            key: tar_at_far(plain_gen, plain_imp, far) for key, far in FARS.items()
        },
    )
    doc["plaintext_threshold_at_far"] = {"1e-3": tau}
    doc.update(extra)
    doc["seconds"] = round(time.perf_counter() - started, 1)
    return EvaluationResult(doc, gen, imp, plain_gen, plain_imp)


def _ckks_scores(units: np.ndarray, progress: Progress) -> tuple[np.ndarray, float]:
    from vault.he.keyset import CkksKeySet
    from vault.he.params import DEFAULT_PARAMS_ID, get_params

    keyset = CkksKeySet.generate(get_params(DEFAULT_PARAMS_ID))
    collection = CkksCollection(keyset, _record("eval", "ckks", units.shape[1]))
    _enroll(collection, units, progress, "encrypt")
    scores = _score_matrix(collection, units, progress, "score")
    return scores, float(np.abs(scores - units @ units.T).max())


def _cancelable(
    units: np.ndarray, labels: np.ndarray, tau: float, rng: np.random.Generator, progress: Progress
) -> tuple[np.ndarray, dict[str, Any]]:
    dim = units.shape[1]
    source = EphemeralSeedSource()
    key_a = _keys(source, "eval-a", "orbit-rotation", dim, dim)
    key_b = _keys(source, "eval-b", "orbit-rotation", dim, dim)
    collection = CancelableCollection(_record("eval-a", "cancelable", dim), key_a)
    _enroll(collection, units, progress, "protect")
    scores = _score_matrix(collection, units, progress, "score")
    # Linkage: stored rows of the same people under two keys, compared directly.
    stored_a = collection.protect(units, 1)
    stored_b = CancelableCollection(_record("eval-b", "cancelable", dim), key_b).protect(units, 1)
    spectra_a, spectra_b = spectra(stored_a), spectra(stored_b)
    cross = np.empty((len(units), len(units)))
    for first in range(0, len(units), _PROBE_CHUNK):
        cross[first : first + _PROBE_CHUNK] = max_correlation(
            spectra_a[first : first + _PROBE_CHUNK], spectra_b, dim
        )
        progress("link", min(first + _PROBE_CHUNK, len(units)), len(units))
    mated, non_mated = _cross_pairs(cross, labels)
    rotation = key_a.rotation(1).unsafe_matrix()
    means = attack.orbit_mean_attack(stored_a, rotation, units, tau, rng=rng)
    ascent = attack.surrogate_ascent(
        stored_a, rotation, units, tau, rng=rng, progress=lambda d, t: progress("attack", d, t)
    )
    attacks = {f"orbit_mean_n{n}": rate for n, rate in means.items()}
    attacks["surrogate_ascent"] = ascent
    return scores, {
        "dsys": dsys(mated, non_mated),
        "dsys_bins": DEFAULT_BINS,
        "inversion_success_rate": max(attacks.values()),
        "inversion_attacks": attacks,
        "inversion_threshold": tau,
        "scheme": "salted keyed rotation (signed dihedral salt, K = 4d)",
    }


def _hybrid(
    units: np.ndarray, labels: np.ndarray, tau: float, rng: np.random.Generator, progress: Progress
) -> tuple[np.ndarray, dict[str, Any]]:
    from vault.he.keyset import CkksKeySet
    from vault.he.params import DEFAULT_PARAMS_ID, get_params

    dim, out = units.shape[1], hybrid_dim(units.shape[1])
    source = EphemeralSeedSource()
    key_a = _keys(source, "eval-a", "hybrid-projection", dim, out)
    key_b = _keys(source, "eval-b", "hybrid-projection", dim, out)
    keyset = CkksKeySet.generate(get_params(DEFAULT_PARAMS_ID))
    collection = HybridCollection(keyset, _record("eval-a", "hybrid", dim), key_a)
    _enroll(collection, units, progress, "encrypt")
    scores = _score_matrix(collection, units, progress, "score")
    projected_a = collection.transform(units, 1)
    projected_b = HybridCollection(keyset, _record("eval-b", "hybrid", dim), key_b).transform(
        units, 1
    )
    mated, non_mated = _cross_pairs(projected_a @ projected_b.T, labels)
    rotation = key_a.rotation(1).unsafe_matrix()
    attacks = {"least_squares": attack.least_squares_attack(projected_a, rotation, units, tau)}
    del rng
    return scores, {
        "max_abs_score_error": float(np.abs(scores - projected_a @ projected_a.T).max()),
        "dsys": dsys(mated, non_mated),
        "dsys_bins": DEFAULT_BINS,
        "inversion_success_rate": max(attacks.values()),
        "inversion_attacks": attacks,
        "inversion_threshold": tau,
        "hybrid_dim": out,
        "scheme": f"keyed orthonormal projection {dim} -> {out}, then CKKS",
    }
