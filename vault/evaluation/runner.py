"""``biovault evaluate``: one protection mode against the unprotected baseline.

Every template is enrolled and used as a probe against every other: all genuine
pairs (same label) and all impostor pairs (different labels), i < j. The protected
scores come from the product's own code paths (the same collection classes the
served vault uses, in memory, with ephemeral keys); for the keyed modes every
template is under one collection key - the stolen-key scenario of ISO/IEC 30136.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from vault.errors import InvalidArgument
from vault.evaluation.cancelable import evaluate_cancelable
from vault.evaluation.harness import (
    SCORE_DTYPE,
    Progress,
    enroll_all,
    max_abs_difference,
    products,
    quiet,
    record,
    score_matrix,
)
from vault.evaluation.hybrid import evaluate_hybrid
from vault.evaluation.memory import available_bytes
from vault.evaluation.metrics import Comparisons, pair_counts
from vault.schemes.ckks import CkksCollection
from vault.schemes.profile import EmbeddingProfile
from vault.schemes.validation import validate_templates

__all__ = ["MODES", "EvaluationResult", "evaluate"]

MODES = ("plaintext", "ckks", "cancelable", "hybrid")
FARS = {"1e-3": 1e-3, "1e-4": 1e-4}
#: Memory an evaluation adds to what the process holds when it checks, in n x n score
#: matrices plus a fixed part (a SEAL context, working blocks, the attacks' FFTs): the
#: one live matrix and the sorted pair scores, half a matrix per system, make 2. At
#: n = 13,233, net of the fixed part, 1.4 (plaintext) to 3.0 (cancelable, whose attack
#: stage has a working set of its own) were measured; beyond, the n^2 terms dominate.
_PEAK_MATRICES = 3.0
_PEAK_FIXED_BYTES = 250_000_000


@dataclass(frozen=True)
class EvaluationResult:
    """The contract's JSON document plus both systems' sorted score sets, for plotting."""

    document: dict[str, Any]
    protected: Comparisons
    baseline: Comparisons


def evaluate(
    embeddings: np.ndarray,
    labels: np.ndarray,
    mode: str,
    *,
    seed: int = 0,
    progress: Progress = quiet,
    profile: EmbeddingProfile | None = None,
    whiten: bool = True,
) -> EvaluationResult:
    """Evaluate ``mode`` on (n, d) embeddings with n labels.

    For the keyed modes, templates are whitened with ``profile``, or with profiles
    cross-fitted on the other half of the subjects when none is given
    (:func:`vault.evaluation.harness.whiten_by_halves`); ``whiten=False``
    evaluates the transform without one.

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
    _check_memory(len(units))
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    baseline = Comparisons.of_matrix(products(units, units), labels)
    tau = baseline.threshold_at_far(1e-3)
    doc: dict[str, Any] = {
        "mode": mode,
        "templates": len(units),
        "dim": units.shape[1],
        "genuine_pairs": genuine_pairs,
        "impostor_pairs": impostor_pairs,
    }
    # Only sorted pair scores outlive their matrix: one n x n matrix at a time.
    extra: dict[str, Any] = {}
    if mode == "plaintext":
        protected = baseline
    else:
        if mode == "ckks":
            scores, extra = _ckks_scores(units, progress)
        else:
            keyed = evaluate_cancelable if mode == "cancelable" else evaluate_hybrid
            scores, extra = keyed(units, labels, tau, rng, progress, profile=profile, whiten=whiten)
        protected = Comparisons.of_matrix(scores, labels)
    doc.update(
        eer=protected.eer(),
        tar_at_far={key: protected.tar_at_far(far) for key, far in FARS.items()},
        plaintext_eer=baseline.eer(),
        plaintext_tar_at_far={key: baseline.tar_at_far(far) for key, far in FARS.items()},
    )
    doc["plaintext_threshold_at_far"] = {"1e-3": tau}
    doc.update(extra)
    doc["seconds"] = round(time.perf_counter() - started, 1)
    return EvaluationResult(doc, protected, baseline)


def _check_memory(n: int) -> None:
    """Refuse a set too large for this machine before minutes of work, rather than be
    killed for memory at the end: every pair is scored, so memory grows with n^2."""
    needed = _PEAK_MATRICES * n * n * np.dtype(SCORE_DTYPE).itemsize + _PEAK_FIXED_BYTES
    available = available_bytes()
    if available is not None and needed > available:
        raise InvalidArgument(
            f"evaluating {n} templates scores all {n * (n - 1) // 2} pairs and needs about "
            f"{needed / 1e9:.1f} GB of memory, but {available / 1e9:.1f} GB is available; "
            "evaluate a random subset of the subjects (memory grows with the square of "
            "the number of templates)"
        )


def _ckks_scores(units: np.ndarray, progress: Progress) -> tuple[np.ndarray, dict[str, Any]]:
    from vault.he.keyset import CkksKeySet
    from vault.he.params import DEFAULT_PARAMS_ID, get_params

    keyset = CkksKeySet.generate(get_params(DEFAULT_PARAMS_ID))
    collection = CkksCollection(keyset, record("eval", "ckks", units.shape[1]))
    enroll_all(collection, units, progress, "encrypt")
    scores = score_matrix(collection, units, progress, "score")
    return scores, {"max_abs_score_error": max_abs_difference(scores, units, units)}
