"""EER, TAR@FAR and pair enumeration on hand-checked tiny cases."""

from fractions import Fraction

import numpy as np
import pytest

from vault.evaluation.metrics import (
    Comparisons,
    det_curve,
    eer,
    pair_counts,
    pair_scores,
    tar_at_far,
)


def test_perfect_separation_has_zero_eer() -> None:
    """Every genuine score above every impostor score gives EER 0."""
    assert eer(np.array([0.8, 0.9]), np.array([0.1, 0.2, 0.3])) == 0.0


def test_one_crossing_pair_gives_one_third() -> None:
    """gen {0.9, 0.8, 0.7}, imp {0.1, 0.2, 0.75}: at t = 0.7 FRR = 1/3 and FAR = 1/3."""
    assert eer(np.array([0.9, 0.8, 0.7]), np.array([0.1, 0.2, 0.75])) == pytest.approx(1 / 3)


def test_identical_distributions_give_one_half() -> None:
    """Genuine and impostor scores drawn alike have EER near 0.5."""
    rng = np.random.default_rng(0)
    assert eer(rng.normal(size=20000), rng.normal(size=20000)) == pytest.approx(0.5, abs=0.02)


def test_gaussian_eer_matches_theory() -> None:
    """N(2,1) vs N(0,1): EER = Phi(-1) = 0.1587."""
    rng = np.random.default_rng(1)
    value = eer(rng.normal(2.0, 1.0, 200_000), rng.normal(0.0, 1.0, 200_000))
    assert value == pytest.approx(0.1587, abs=0.003)


def test_tar_at_far_hand_checked() -> None:
    """With 10 impostors, FAR 0.1 allows one above the threshold (0.8); genuine > 0.8 count."""
    impostor = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    genuine = np.array([0.85, 0.92, 0.99, 0.5])
    assert tar_at_far(genuine, impostor, 0.1) == pytest.approx(0.5)  # threshold 0.9
    assert tar_at_far(genuine, impostor, 0.2) == pytest.approx(0.75)  # threshold 0.8
    assert tar_at_far(genuine, impostor, 1e-4) == pytest.approx(0.25)  # threshold 0.95


def test_pairs_are_every_unordered_pair() -> None:
    """Labels [0, 0, 1, 1, 1] give 1 + 3 genuine and 6 impostor pairs, i < j only."""
    labels = np.array([0, 0, 1, 1, 1])
    assert pair_counts(labels) == (4, 6)
    scores = np.arange(25, dtype=float).reshape(5, 5)
    genuine, impostor = pair_scores(scores, labels)
    assert sorted(genuine) == [1.0, 13.0, 14.0, 19.0]
    assert sorted(impostor) == [2.0, 3.0, 4.0, 7.0, 8.0, 9.0]


def test_det_curve_is_monotone() -> None:
    """FAR falls and FRR rises as the threshold rises."""
    rng = np.random.default_rng(2)
    far, frr = det_curve(rng.normal(1, 1, 500), rng.normal(0, 1, 500))
    assert np.all(np.diff(far) <= 0) and np.all(np.diff(frr) >= 0)


def _eer_by_every_threshold(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """The definition in exact fractions, at every observed score and just below the
    smallest; the first (lowest) threshold wins a tie."""
    values = np.unique(np.concatenate([genuine, impostor]))
    best = None
    for t in [np.nextafter(values[0], -np.inf), *values]:
        far = Fraction(int(np.sum(impostor > t)), len(impostor))
        frr = Fraction(int(np.sum(genuine <= t)), len(genuine))
        if best is None or abs(far - frr) < best[0]:
            best = (abs(far - frr), (far + frr) / 2)
    return float(best[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_eer_search_equals_trying_every_threshold(dtype) -> None:
    """The binary search finds the same point as trying every threshold, ties and
    coarse (heavily tied) scores included, in both score precisions."""
    rng = np.random.default_rng(5)
    for _ in range(300):
        step = rng.choice([0.5, 0.2, 0.001])
        genuine = np.round(rng.normal(rng.uniform(0, 2), 1, rng.integers(1, 40)) / step) * step
        impostor = np.round(rng.normal(0, 1, rng.integers(1, 60)) / step) * step
        genuine, impostor = genuine.astype(dtype), impostor.astype(dtype)
        assert eer(genuine, impostor) == pytest.approx(
            _eer_by_every_threshold(genuine, impostor), abs=1e-12
        )


def test_comparisons_sorts_copies_unless_handed_the_arrays() -> None:
    """A caller's arrays stay as they were; of_matrix sorts its own pair arrays, and
    the rates match those of the plain constructor."""
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 6, 40)
    scores = rng.normal(size=(40, 40)).astype(np.float32)
    genuine, impostor = pair_scores(scores, labels)
    kept = genuine.copy()
    copied = Comparisons(genuine, impostor)
    assert np.array_equal(genuine, kept)
    owned = Comparisons.of_matrix(scores, labels)
    assert np.array_equal(owned.genuine, np.sort(kept))
    assert np.array_equal(owned.impostor, copied.impostor)
    assert owned.eer() == copied.eer()
    assert owned.tar_at_far(1e-2) == copied.tar_at_far(1e-2)
