"""``evaluate --mode hybrid``: keyed projection (after whitening) and CKKS, in the
worst case the contract names - the attacker holds the transform key *and* the HE
secret key, so he reads t = normalize(P_v c) in clear.

Whitening follows :mod:`vault.evaluation.cancelable`: cross-fitted profiles unless
one is given. The attack is the minimum-norm preimage P^T t, mapped back through
the (public) profile.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vault.core.transform_seeds import EphemeralSeedSource
from vault.evaluation import attack
from vault.evaluation.dsys import cross_key_unlinkability
from vault.evaluation.harness import (
    Progress,
    enroll_all,
    ephemeral_keys,
    max_abs_difference,
    products,
    record,
    score_matrix,
    whiten_by_halves,
)
from vault.schemes.hybrid import HybridCollection, hybrid_dim
from vault.schemes.profile import EmbeddingProfile

__all__ = ["evaluate_hybrid"]

_PURPOSE = "hybrid-projection"


def evaluate_hybrid(
    units: np.ndarray,
    labels: np.ndarray,
    tau: float,
    rng: np.random.Generator,
    progress: Progress,
    *,
    profile: EmbeddingProfile | None,
    whiten: bool,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Protected score matrix and the hybrid keys of the evaluation document."""
    from vault.he.keyset import CkksKeySet
    from vault.he.params import DEFAULT_PARAMS_ID, get_params

    dim, out = units.shape[1], hybrid_dim(units.shape[1])
    # Whitened here, so the collections themselves take the rows as they are.
    whitening = whiten_by_halves(units, labels, rng, profile, whiten)
    prepared = whitening.prepared
    source = EphemeralSeedSource()
    key_a = ephemeral_keys(source, "eval-a", _PURPOSE, dim, out)
    key_b = ephemeral_keys(source, "eval-b", _PURPOSE, dim, out)
    keyset = CkksKeySet.generate(get_params(DEFAULT_PARAMS_ID))
    collection = HybridCollection(keyset, record("eval-a", "hybrid", dim), key_a)
    projected_a = collection.transform(prepared, 1)
    other = HybridCollection(keyset, record("eval-b", "hybrid", dim), key_b)
    # The cross-key matrix is gone before the score matrix exists: one n x n at a time.
    linkage = cross_key_unlinkability(products(projected_a, other.transform(prepared, 1)), labels)
    enroll_all(collection, prepared, progress, "encrypt")
    scores = score_matrix(collection, prepared, progress, "score")
    projection = key_a.rotation(1).unsafe_matrix()
    hits = 0.0
    for half, half_profile in zip(whitening.halves, whitening.profiles, strict=True):
        back = None if half_profile is None else half_profile.inverse
        rate = attack.least_squares_attack(
            projected_a[half], projection, units[half], tau, to_template=back
        )
        hits += rate * np.count_nonzero(half)
    attacks = {"least_squares": hits / len(units)}
    return scores, {
        "max_abs_score_error": max_abs_difference(scores, projected_a, projected_a),
        **linkage.document(),
        "inversion_success_rate": max(attacks.values()),
        "inversion_attacks": attacks,
        "inversion_template_free": attack.template_free_rate(units, whitening.halves, tau),
        "inversion_threshold": tau,
        "inversion_threat_model": "the attacker holds the transform key and the HE secret key",
        "hybrid_dim": out,
        **whitening.document(f"keyed orthonormal projection {dim} -> {out}, then CKKS"),
    }
