"""``evaluate --mode hybrid``: keyed projection (after whitening) and CKKS.

The enclave holds both secrets, so an attacker with both is the enclave's own
compromise; ``inversion_success_rate`` is the worst **single** key compromised
(CONTRACT.md), each with every stored blob, the public profile and other people's
embeddings of the same face model (the other half of the subjects, as in
:mod:`vault.evaluation.cancelable`):

* transform seed alone: P_v is known, but the stored rows are CKKS ciphertexts
  (IND-CPA without the secret key), so nothing of t is readable; the best guess
  is the population's mean direction, which needs no template
  (``seed_alone_population_mean``, the template-free floor).
* HE secret key alone: decrypting gives t = normalize(P_v c) for every row, with
  P_v unknown.
  - ``he_key_alone_guessed_projection``: the attacker stands in his own random
    orthonormal P' for P_v and submits P'^T t.
  - ``he_key_alone_known_pairs``: the attacker also knows which stored rows belong
    to the people whose embeddings he holds (subject ids are stored in clear, and
    an insider can enrol faces he knows): he fits the linear map t -> c on those
    pairs by least squares - a known-plaintext attack that recovers P_v^T once
    he has about d/2 pairs - and applies it to everyone else's t.
* both keys (``inversion_success_rate_all_keys``, reported): the minimum-norm
  preimage P_v^T t, ``all_keys_least_squares``.

Whitening follows :mod:`vault.evaluation.cancelable`: cross-fitted profiles unless
one is given; every guess is mapped back through the (public) profile.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vault.evaluation import attack
from vault.evaluation.dsys import cross_key_unlinkability
from vault.evaluation.harness import (
    Progress,
    Whitening,
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
from vault.schemes.seeds import EphemeralSeedSource

__all__ = ["evaluate_hybrid"]

_PURPOSE = "hybrid-projection"


def _attacks(
    projected: np.ndarray,
    projection: np.ndarray,
    units: np.ndarray,
    prepared: np.ndarray,
    tau: float,
    whitening: Whitening,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Every hybrid attack on each half (its victims), the other half the attacker's."""
    dim, out = projection.shape[1], projection.shape[0]
    guessed = np.linalg.qr(rng.standard_normal((dim, out)))[0].T  # a Haar stand-in for P_v
    totals = {"all_keys_least_squares": 0.0, "he_key_alone_guessed_projection": 0.0}
    totals["he_key_alone_known_pairs"] = 0.0
    for half, half_profile in zip(whitening.halves, whitening.profiles, strict=True):
        back = None if half_profile is None else half_profile.inverse
        victims, count = projected[half], np.count_nonzero(half)
        rates = {
            "all_keys_least_squares": attack.least_squares_attack(
                victims, projection, units[half], tau, to_template=back
            ),
            "he_key_alone_guessed_projection": attack.least_squares_attack(
                victims, guessed, units[half], tau, to_template=back
            ),
        }
        # t ~ c @ B over the attacker's own linked rows (c: their whitened form as
        # stored). This direction is well posed (t is a function of c, up to the
        # norm of P c); regressing c on t would fold in the half of c that t lacks.
        fitted = np.linalg.lstsq(prepared[~half], projected[~half], rcond=None)[0]
        rates["he_key_alone_known_pairs"] = attack.least_squares_attack(
            victims, fitted.T, units[half], tau, to_template=back
        )
        for name, rate in rates.items():
            totals[name] += rate * count
    attacks = {name: float(total / len(units)) for name, total in totals.items()}
    attacks["seed_alone_population_mean"] = attack.template_free_rate(units, whitening.halves, tau)
    return attacks


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
    projection = key_a.matrix(1).unsafe_matrix()
    attacks = _attacks(projected_a, projection, units, prepared, tau, whitening, rng)
    single = {name: rate for name, rate in attacks.items() if not name.startswith("all_keys")}
    return scores, {
        "max_abs_score_error": max_abs_difference(scores, projected_a, projected_a),
        **linkage.document(),
        "inversion_success_rate": max(single.values()),
        "inversion_attacks": attacks,
        "inversion_success_rate_all_keys": attacks["all_keys_least_squares"],
        "inversion_single_key": {
            "transform_seed": attacks["seed_alone_population_mean"],
            "he_secret_key": max(
                attacks["he_key_alone_guessed_projection"], attacks["he_key_alone_known_pairs"]
            ),
            "he_secret_key_without_links": attacks["he_key_alone_guessed_projection"],
        },
        "inversion_template_free": attack.template_free_rate(units, whitening.halves, tau),
        "inversion_threshold": tau,
        "inversion_threat_model": (
            "worst single key: the transform seed alone, or the HE secret key alone, each "
            "with every stored blob, the (public) profile and other people's embeddings of "
            "the same face model (and, for known_pairs, which stored rows are theirs); "
            "all_keys: both keys (the enclave's own compromise)"
        ),
        "hybrid_dim": out,
        **whitening.document(f"keyed orthonormal projection {dim} -> {out}, then CKKS"),
    }
