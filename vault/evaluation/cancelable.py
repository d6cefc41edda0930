"""``evaluate --mode cancelable``: the salted keyed rotation after whitening, in the
stolen-key scenario (every template under one collection key).

The whitening profile. Deployed, a collection's profile comes from other people's
embeddings (public data of the same face model), never from the templates it
protects. The evaluation keeps that property by two-fold cross-fitting: the
subjects are split at random into two halves and every template is whitened with a
profile fitted on the other half. Fitting on the evaluated templates themselves
would overfit (n is only ~3 d in a 1,500-template set) and distort both accuracy
and the attacks. A profile given by the caller is used for every template as is.

The attacker holds the rotation, the stored rows and the profile (it is public),
plus a Gaussian population model fitted on the other half's embeddings: face data
of the same model, from people who are not its victims.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vault.evaluation import attack
from vault.evaluation.discriminator import train_discriminator
from vault.evaluation.dsys import Unlinkability, cross_key_unlinkability
from vault.evaluation.harness import (
    SCORE_DTYPE,
    Progress,
    enroll_segments,
    ephemeral_keys,
    record,
    upper_score_matrix,
    whiten_by_halves,
)
from vault.schemes.cancelable import CancelableCollection
from vault.schemes.orbit import max_correlation, spectra
from vault.schemes.profile import EmbeddingProfile
from vault.schemes.seeds import EphemeralSeedSource

__all__ = ["LINK_PAIRS", "NEAREST_FACES_PUBLIC", "PRIOR_ATTACK_SAMPLE", "evaluate_cancelable"]

#: Templates per half the population-prior attack runs on (it scores all 4d members).
PRIOR_ATTACK_SAMPLE = 150
#: Size of the nearest-faces attacker's face set (a random sample of the other half),
#: which bounds the attack's cost on large evaluation sets.
NEAREST_FACES_PUBLIC = 2000
#: Non-mated pairs the linkage stage scores at most (then it samples rows).
LINK_PAIRS = 16_000_000
_LINK_CHUNK = 256
_PURPOSE = "orbit-rotation"


def _linkage(
    prepared: np.ndarray,
    stored_a: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    progress: Progress,
) -> Unlinkability:
    """D_sys between the same templates stored under two collection keys.

    Every mated pair is scored, in both orders (template i under key A against j
    under B, and j under A against i under B, are different comparisons). Non-mated
    pairs too, up to LINK_PAIRS; beyond that, every pair of a uniform sample of rows
    - tens of millions of samples of one smooth distribution add nothing to a
    100-bin histogram, and on an LFW-sized set scoring all 175 million pairs took
    most of the run.
    """
    dim, n = prepared.shape[1], len(prepared)
    key_b = ephemeral_keys(EphemeralSeedSource(), "eval-b", _PURPOSE, dim, dim)
    stored_b = CancelableCollection(record("eval-b", "cancelable", dim), key_b).protect(prepared, 1)
    spectra_a, spectra_b = spectra(stored_a), spectra(stored_b)
    cross = np.full((n, n), np.nan, dtype=SCORE_DTYPE)
    sampled = n * n > LINK_PAIRS
    rows = np.sort(rng.choice(n, LINK_PAIRS // n, False)) if sampled else np.arange(n)
    # Mated pairs outside the sampled rows, subject by subject (rows sorted by label
    # once, not one pass over all labels per subject); all rows need no second pass.
    groups = _subjects(labels) if sampled else []
    total = len(rows) + len(groups)
    for first in range(0, len(rows), _LINK_CHUNK):
        chunk = rows[first : first + _LINK_CHUNK]
        cross[chunk] = max_correlation(spectra_a[chunk], spectra_b, dim)
        progress("link", first + len(chunk), total)
    for number, members in enumerate(groups, start=1):
        cross[np.ix_(members, members)] = max_correlation(
            spectra_a[members], spectra_b[members], dim
        )
        if number % 256 == 0 or number == len(groups):
            progress("link", len(rows) + number, total)
    return cross_key_unlinkability(cross, labels)


def _subjects(labels: np.ndarray) -> list[np.ndarray]:
    """Row numbers of each subject with more than one template."""
    _, subject, counts = np.unique(labels, return_inverse=True, return_counts=True)
    groups = np.split(np.argsort(subject.reshape(-1), kind="stable"), np.cumsum(counts)[:-1])
    return [members for members in groups if len(members) > 1]


def _stage(progress: Progress, name: str) -> attack.Progress:
    return lambda done, total: progress(name, done, total)


def _attacks(
    stored: np.ndarray,
    rotation: np.ndarray,
    units: np.ndarray,
    tau: float,
    halves: list[np.ndarray],
    profiles: list[EmbeddingProfile | None],
    rng: np.random.Generator,
    progress: Progress,
) -> dict[str, float]:
    """Every attack on each half with that half's profile; rates weighted by size."""
    totals: dict[str, float] = {}
    weights: dict[str, int] = {}

    def add(name: str, rate: float, count: int) -> None:
        totals[name] = totals.get(name, 0.0) + rate * count
        weights[name] = weights.get(name, 0) + count

    for number, (half, profile) in enumerate(zip(halves, profiles, strict=True), start=1):
        rows = np.flatnonzero(half)
        ascent_progress = _stage(progress, f"attack {number}/2")
        prior_progress = _stage(progress, f"prior {number}/2")
        back = None if profile is None else profile.inverse
        means = attack.orbit_mean_attack(
            stored[rows], rotation, units[rows], tau, rng=rng, to_template=back
        )
        for n, rate in means.items():
            add(f"orbit_mean_n{n}", rate, len(rows))
        add(
            "surrogate_ascent",
            attack.surrogate_ascent(
                stored[rows],
                rotation,
                units[rows],
                tau,
                rng=rng,
                to_template=back,
                progress=ascent_progress,
            ),
            len(rows),
        )
        sample = rng.choice(rows, min(len(rows), PRIOR_ATTACK_SAMPLE), replace=False)
        faces = np.flatnonzero(~half)
        faces = rng.choice(faces, min(len(faces), NEAREST_FACES_PUBLIC), replace=False)
        orbit_space = units[~half] if profile is None else profile.apply(units[~half])
        classifier = train_discriminator(orbit_space, rotation, rng, to_template=back)
        rates = attack.orbit_selection_attacks(
            stored[sample],
            rotation,
            units[sample],
            tau,
            model=attack.GaussianModel.fit(orbit_space),
            public=units[faces],
            to_template=back,
            scorers={"discriminator": classifier.score},
            progress=prior_progress,
        )
        for name, rate in rates.items():
            add(name, rate, len(sample))
    return {name: totals[name] / weights[name] for name in totals}


def evaluate_cancelable(
    units: np.ndarray,
    labels: np.ndarray,
    tau: float,
    rng: np.random.Generator,
    progress: Progress,
    *,
    profile: EmbeddingProfile | None,
    whiten: bool,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Protected score matrix and the cancelable keys of the evaluation document."""
    dim = units.shape[1]
    # Whitened here, so the collection itself takes the rows as they are.
    whitening = whiten_by_halves(units, labels, rng, profile, whiten)
    prepared = whitening.prepared
    key_a = ephemeral_keys(EphemeralSeedSource(), "eval-a", _PURPOSE, dim, dim)
    segments = enroll_segments(
        lambda: CancelableCollection(record("eval-a", "cancelable", dim), key_a),
        prepared,
        progress,
        "protect",
    )
    stored = segments[0].collection.protect(prepared, 1)
    # Linkage first: its cross-key matrix is gone before the score matrix exists.
    linkage = _linkage(prepared, stored, labels, rng, progress)
    # The best alignment over the group is symmetric in probe and template, so the
    # upper triangle holds every pair.
    scores = upper_score_matrix(segments, prepared, progress, "score")
    rotation = key_a.matrix(1).unsafe_matrix()
    attacks = _attacks(
        stored, rotation, units, tau, whitening.halves, whitening.profiles, rng, progress
    )
    return scores, {
        **linkage.document(),
        "inversion_success_rate": max(attacks.values()),
        "inversion_attacks": attacks,
        "inversion_template_free": attack.template_free_rate(units, whitening.halves, tau),
        "inversion_threshold": tau,
        "inversion_threat_model": (
            "the attacker holds the collection's transform key, every stored row, the "
            "(public) embedding profile and embeddings of other people of the same face model"
        ),
        **whitening.document("salted keyed rotation (signed dihedral salt, K = 4d)"),
    }
