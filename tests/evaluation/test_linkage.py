"""The cancelable evaluation's linkage stage: which cross-key pairs it scores."""

import numpy as np
import pytest

from tests.support.synthetic import identities
from vault.evaluation import cancelable
from vault.evaluation.harness import quiet

DIM = 32


@pytest.mark.parametrize("budget", [10**9, 2000])
def test_every_mated_pair_and_a_row_sample_of_the_rest(monkeypatch, budget: int) -> None:
    """Within the pair budget every pair is scored; beyond it every mated pair plus
    every pair of LINK_PAIRS // n sampled rows, and nothing else."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(40), rng.integers(1, 6, 40))
    units = identities(len(labels), DIM, rng)
    real = cancelable.cross_key_unlinkability
    captured: dict[str, np.ndarray] = {}

    def capture(cross: np.ndarray, labels_seen: np.ndarray):
        captured["cross"] = cross.copy()
        return real(cross, labels_seen)

    monkeypatch.setattr(cancelable, "LINK_PAIRS", budget)
    monkeypatch.setattr(cancelable, "cross_key_unlinkability", capture)
    result = cancelable._linkage(units, units, labels, rng, quiet)
    cross = captured["cross"]
    n = len(labels)
    same = labels[:, None] == labels[None, :]
    mated = same & ~np.eye(n, dtype=bool)
    assert np.isfinite(cross[mated]).all()
    scored_rows = np.isfinite(np.where(same, np.nan, cross)).any(axis=1)
    if budget >= n * n:
        assert np.isfinite(cross).all()
    else:
        assert scored_rows.sum() == budget // n
        assert np.isfinite(cross[scored_rows]).all()
    assert result.mated_pairs == int(mated.sum())
