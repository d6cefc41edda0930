"""Hybrid's inversion figure is the worst single key compromised; both keys are reported."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.synthetic import anisotropic_people
from vault.evaluation.runner import evaluate


@pytest.fixture(scope="module")
def doc() -> dict:
    rows, labels = anisotropic_people(200, 4, 64, np.random.default_rng(5))
    return evaluate(rows, labels, "hybrid").document


def test_both_keys_invert_and_are_reported_apart(doc) -> None:
    """P^T t with both keys inverts nearly everything; it is not the headline figure."""
    assert doc["inversion_success_rate_all_keys"] >= 0.9
    assert (
        doc["inversion_attacks"]["all_keys_least_squares"] == doc["inversion_success_rate_all_keys"]
    )


def test_the_he_key_without_the_projection_gets_nothing_from_a_guessed_one(doc) -> None:
    """A random stand-in for P_v gives a random direction: near the template-free floor."""
    attacks = doc["inversion_attacks"]
    assert attacks["he_key_alone_guessed_projection"] <= doc["inversion_template_free"] + 0.02
    assert (
        doc["inversion_single_key"]["he_secret_key_without_links"]
        == (attacks["he_key_alone_guessed_projection"])
    )


def test_known_pairs_recover_the_projection_and_set_the_worst_case(doc) -> None:
    """With ~400 linked rows of his own (more than d/2 = 32) the HE-key holder learns P_v."""
    attacks = doc["inversion_attacks"]
    assert attacks["he_key_alone_known_pairs"] >= 0.9
    single = {k: v for k, v in attacks.items() if not k.startswith("all_keys")}
    assert doc["inversion_success_rate"] == max(single.values())
    assert doc["inversion_single_key"]["he_secret_key"] == attacks["he_key_alone_known_pairs"]
