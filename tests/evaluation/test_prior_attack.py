"""The population-prior attack: a key holder with a model of the face population picks
the template out of its orbit on anisotropic embeddings - unless they are whitened."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.synthetic import anisotropic_people
from vault.errors import InvalidArgument
from vault.evaluation.runner import evaluate
from vault.schemes.profile import EmbeddingProfile

DIM = 128


@pytest.fixture(scope="module")
def people() -> tuple[np.ndarray, np.ndarray]:
    return anisotropic_people(200, 4, DIM, np.random.default_rng(8))


def test_without_whitening_the_population_model_finds_the_template(people) -> None:
    rows, labels = people
    doc = evaluate(rows, labels, "cancelable", whiten=False).document
    assert doc["embedding_profile"] == "none"
    # ~0.25 at d = 128; it grows with d (0.57-0.93 on a 512-d proxy).
    assert doc["inversion_attacks"]["population_prior"] >= 0.15
    assert doc["inversion_success_rate"] >= doc["inversion_attacks"]["population_prior"]


def test_cross_fitted_whitening_defeats_it_and_keeps_accuracy(people) -> None:
    rows, labels = people
    doc = evaluate(rows, labels, "cancelable").document
    assert doc["embedding_profile"].startswith("cross-fitted")
    assert len(doc["embedding_profile_shrinkage"]) == 2
    assert doc["inversion_attacks"]["nearest_faces"] <= 0.05
    assert doc["inversion_attacks"]["population_prior"] <= 0.05
    assert doc["eer"] <= doc["plaintext_eer"] + 0.02


def test_a_set_too_small_to_cross_fit_is_evaluated_without_whitening() -> None:
    """Three templates of two people: no profile can be cross-fitted; say so, do not fail."""
    rows, labels = anisotropic_people(2, 2, DIM, np.random.default_rng(9))
    doc = evaluate(rows[:3], labels[:3], "cancelable").document
    assert doc["embedding_profile"].startswith("none: too few")
    assert doc["embedding_profile_shrinkage"] == []
    assert (doc["genuine_pairs"], doc["impostor_pairs"]) == (1, 2)


@pytest.mark.parametrize("mode", ["cancelable", "hybrid"])
def test_a_profile_for_another_dimension_is_a_clear_error(people, mode: str) -> None:
    rows, labels = people
    other, _ = anisotropic_people(80, 2, 64, np.random.default_rng(1))
    with pytest.raises(InvalidArgument, match="dimension 64, not 128"):
        evaluate(rows, labels, mode, profile=EmbeddingProfile.fit(other))
