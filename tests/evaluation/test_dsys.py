"""D_sys (Gomez-Barrero et al. 2018) on constructed score distributions."""

import numpy as np
import pytest

from vault.evaluation.dsys import cross_key_unlinkability, dsys


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


def _cross_from(labels: np.ndarray, mated_score, non_mated_score) -> np.ndarray:
    """A cross-key matrix whose entries depend only on the pair's labels."""
    n = len(labels)
    cross = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            same = labels[i] == labels[j]
            cross[i, j] = mated_score(labels[i]) if same else non_mated_score(labels[i], labels[j])
    return cross


def test_balanced_weighting_is_pair_weighting_when_subjects_are_equal() -> None:
    """Equal sample counts give uniform weights: both estimates equal the plain one."""
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(30), 4)
    cross = rng.normal(size=(120, 120)) + 0.3 * (labels[:, None] == labels[None, :])
    result = cross_key_unlinkability(cross, labels, bins=20)
    same = labels[:, None] == labels[None, :]
    plain = dsys(cross[same & ~np.eye(120, dtype=bool)], cross[~same], bins=20)
    assert result.balanced == pytest.approx(plain, abs=1e-12)
    assert result.pair_weighted == pytest.approx(plain, abs=1e-12)
    assert 0.05 < plain < 0.95  # the case is neither trivially 0 nor 1


def test_one_prolific_subject_does_not_dominate_hand_checked() -> None:
    """Subject 0 has 4 samples (12 ordered mated pairs) scoring 0.75; subjects 1-3
    have 2 each (6 pairs) scoring 0.25; every non-mated pair scores 0.25.
    Two bins: the 0.75 bin has no non-mated mass (D = 1), the 0.25 bin has LR < 1.
    Pair-weighted: 12/18 of the mated mass is at 0.75 -> D_sys = 2/3.
    Balanced: one subject in four is at 0.75 -> D_sys = 1/4."""
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2, 3, 3])
    cross = _cross_from(labels, lambda s: 0.75 if s == 0 else 0.25, lambda a, b: 0.25)
    result = cross_key_unlinkability(cross, labels, bins=2)
    assert result.pair_weighted == pytest.approx(2 / 3)
    assert result.balanced == pytest.approx(1 / 4)
    assert result.document()["dsys"] == result.balanced


def test_non_mated_pairs_are_balanced_by_subject_pair() -> None:
    """Subject 0 has 4 samples, subjects 1-3 have 2; every mated pair scores 0.75.
    Non-mated pairs touching subject 0 (48 of 72 ordered pairs) score 0.25, the 24
    among subjects 1-3 score 0.75.
    Pair-weighted: p_non(0.75) = 1/3, LR = 3 -> D_sys = 2 * 3/4 - 1 = 1/2.
    Balanced: 6 of the 12 ordered subject pairs touch subject 0 -> p_non(0.75) = 1/2,
    LR = 2 -> D_sys = 2 * 2/3 - 1 = 1/3."""
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2, 3, 3])
    cross = _cross_from(labels, lambda s: 0.75, lambda a, b: 0.25 if 0 in (a, b) else 0.75)
    result = cross_key_unlinkability(cross, labels, bins=2)
    assert result.pair_weighted == pytest.approx(1 / 2)
    assert result.balanced == pytest.approx(1 / 3)


def test_without_mated_pairs_there_is_no_estimate() -> None:
    result = cross_key_unlinkability(np.zeros((3, 3)), np.array([0, 1, 2]))
    assert np.isnan(result.balanced) and np.isnan(result.pair_weighted)


def test_the_diagonal_is_not_read() -> None:
    """A template against itself under the other key is not a mated pair."""
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(10), [1, 2, 3, 4, 5, 1, 2, 3, 4, 5])
    cross = rng.normal(size=(30, 30))
    clean = cross_key_unlinkability(cross, labels, bins=10)
    np.fill_diagonal(cross, 50.0)
    dirty = cross_key_unlinkability(cross, labels, bins=10)
    assert (dirty.balanced, dirty.pair_weighted) == (clean.balanced, clean.pair_weighted)
    assert not np.isnan(clean.balanced)


def test_unscored_pairs_are_left_out() -> None:
    """NaN marks a pair nobody scored: it is not counted, and scoring every mated
    pair plus every pair of a random third of the rows estimates the same D_sys as
    scoring everything."""
    rng = np.random.default_rng(6)
    labels = np.repeat(np.arange(200), rng.integers(1, 8, 200))
    n = len(labels)
    same = labels[:, None] == labels[None, :]
    cross = rng.normal(size=(n, n)) + 0.8 * same  # linkable: mated scores shifted up
    full = cross_key_unlinkability(cross, labels, bins=20)
    sampled = cross.copy()
    unsampled = rng.random(n) > 1 / 3
    sampled[np.ix_(unsampled, np.ones(n, dtype=bool))] = np.nan
    sampled[same] = cross[same]
    partial = cross_key_unlinkability(sampled, labels, bins=20)
    off_diagonal = ~np.eye(n, dtype=bool)
    assert partial.mated_pairs == full.mated_pairs == int((same & off_diagonal).sum())
    assert partial.non_mated_pairs == int(np.isfinite(sampled[~same]).sum())
    assert partial.non_mated_pairs < full.non_mated_pairs / 2
    assert partial.balanced == pytest.approx(full.balanced, abs=0.03)
    assert 0.2 < full.balanced < 0.9
