"""The template-free floor: one guess made without any key or protected template."""

from __future__ import annotations

import warnings

import numpy as np

from tests.support.synthetic import anisotropic_people
from vault.evaluation.attack import template_free_rate
from vault.evaluation.runner import evaluate


def test_each_half_faces_the_mean_direction_of_the_other() -> None:
    """Victims e1, e2 face the mean of (e1, e1) = e1: one accepted at tau 0.5. Victims
    e1, e1 face unit(e1 + e2), cosine 0.707: both accepted. 3 of 4."""
    e1, e2 = np.eye(3)[0], np.eye(3)[1]
    units = np.array([e1, e2, e1, e1])
    first = np.array([True, True, False, False])
    assert template_free_rate(units, [first, ~first], 0.5) == 0.75
    assert template_free_rate(units, [first, ~first], 0.75) == 0.25
    # Victims e2, e2 face a face set (e1, -e1) whose mean is zero: no guess, no
    # division by zero; victims e1, -e1 face e2 and clear tau -1 only.
    opposite = np.array([e1, -e1, e2, e2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert template_free_rate(opposite, [first, ~first], -1.0) == 0.5


def test_a_population_mean_away_from_zero_is_a_guess_that_needs_no_template() -> None:
    """Shift every embedding towards one direction (real face models are not centred):
    the mean guess is accepted for many templates, though no attack on the protected
    templates gains from it; on centred embeddings it finds nothing."""
    rows, labels = anisotropic_people(200, 4, 128, np.random.default_rng(8))
    centred = evaluate(rows, labels, "hybrid").document
    assert centred["inversion_template_free"] <= 0.01
    shift = np.random.default_rng(9).standard_normal(128)
    shifted = rows + shift / np.linalg.norm(shift)
    doc = evaluate(shifted, labels, "hybrid").document
    assert doc["inversion_template_free"] >= 0.4  # 0.64 measured
    attacks = doc["inversion_attacks"]
    single = {name: rate for name, rate in attacks.items() if not name.startswith("all_keys")}
    assert doc["inversion_success_rate"] == max(single.values())
    assert doc["inversion_success_rate_all_keys"] == attacks["all_keys_least_squares"]
    # With the transform seed alone nothing is readable: that attack is the floor itself.
    assert attacks["seed_alone_population_mean"] == doc["inversion_template_free"]
