"""The discriminator attack: a classifier trained on the attacker's own faces picks the
template out of its orbit where structure beyond second order survives whitening."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.synthetic import unit_rows
from vault.evaluation.discriminator import train_discriminator
from vault.evaluation.runner import evaluate
from vault.schemes.orbit import apply_group

DIM = 64


def clustered_people(
    count: int, per: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Each person near one of a few signed cluster axes: after whitening the set is
    isotropic to a Gaussian, but every face has one large coordinate on some axis,
    which rotated-and-salted orbit members lack."""
    axes = np.linalg.qr(rng.standard_normal((DIM, DIM)))[0][:8]
    which, sign = rng.integers(0, len(axes), count), rng.choice([-1.0, 1.0], count)
    centres = unit_rows(
        0.9 * sign[:, None] * axes[which] + 0.45 * unit_rows(rng.standard_normal((count, DIM)))
    )
    noise = rng.standard_normal((count * per, DIM)) / np.sqrt(DIM)
    rows = unit_rows(np.repeat(centres, per, axis=0) + 0.3 * noise)
    return rows, np.repeat(np.arange(count), per)


@pytest.fixture(scope="module")
def people() -> tuple[np.ndarray, np.ndarray]:
    return clustered_people(240, 3, np.random.default_rng(3))


def test_it_tells_held_out_faces_from_their_orbit_members(people) -> None:
    """Trained on some people, it ranks other people's real faces above their orbit members."""
    rows, _ = people
    rng = np.random.default_rng(0)
    rotation = np.linalg.qr(rng.standard_normal((DIM, DIM)))[0]
    classifier = train_discriminator(rows[:360], rotation, rng)
    held_out = rows[360:]
    members = (
        apply_group(
            held_out @ rotation.T,
            rng.integers(1, DIM, len(held_out)),
            np.zeros(len(held_out), bool),
            np.ones(len(held_out)),
        )
        @ rotation
    )
    wins = classifier.score(held_out) > classifier.score(members)
    assert wins.mean() >= 0.8


def test_evaluate_reports_it_and_it_beats_chance_where_the_gaussian_cannot(people) -> None:
    rows, labels = people
    doc = evaluate(rows, labels, "cancelable").document
    attacks = doc["inversion_attacks"]
    assert {"population_prior", "nearest_faces", "discriminator"} <= attacks.keys()
    chance = 1 / (4 * DIM)
    assert attacks["discriminator"] >= 10 * chance
    assert attacks["discriminator"] > attacks["population_prior"]
    assert doc["inversion_success_rate"] == max(attacks.values())
