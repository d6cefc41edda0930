"""D_sys (Gomez-Barrero et al. 2018) on constructed score distributions."""

import numpy as np
import pytest

from vault.evaluation.dsys import dsys


def test_identical_distributions_are_unlinkable() -> None:
    """Mated and non-mated scores from one distribution give D_sys near 0."""
    rng = np.random.default_rng(0)
    assert dsys(rng.normal(size=100_000), rng.normal(size=100_000)) < 0.02


def test_disjoint_distributions_are_fully_linkable() -> None:
    """Mated scores all above non-mated scores give D_sys = 1."""
    rng = np.random.default_rng(1)
    assert dsys(rng.uniform(2, 3, 5000), rng.uniform(0, 1, 5000)) == pytest.approx(1.0)


def test_half_overlap_hand_checked() -> None:
    """Mated uniform on [0, 2), non-mated on [0, 1): half the mated mass has LR = 1
    (D = 0), half has no non-mated mass (D = 1): D_sys = 0.5."""
    mated = (np.arange(2000) + 0.5) / 1000.0
    non_mated = (np.arange(1000) + 0.5) / 1000.0
    assert dsys(mated, non_mated, bins=20) == pytest.approx(0.5)


def test_likelihood_ratio_formula() -> None:
    """Two bins, mated (3/4, 1/4), non-mated (1/4, 3/4): LR = 3 in bin one,
    D = 2*3/4 - 1 = 1/2, D_sys = 3/4 * 1/2 = 3/8."""
    mated = np.array([0.1, 0.1, 0.1, 0.9])
    non_mated = np.array([0.1, 0.9, 0.9, 0.9])
    assert dsys(mated, non_mated, bins=2) == pytest.approx(3 / 8)
