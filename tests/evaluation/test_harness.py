"""The evaluation's scoring helpers against the collections they drive."""

import numpy as np

from tests.support.synthetic import identities
from vault.evaluation import harness
from vault.evaluation.harness import (
    enroll_all,
    enroll_segments,
    ephemeral_keys,
    quiet,
    record,
    score_matrix,
    upper_score_matrix,
)
from vault.schemes.cancelable import CancelableCollection
from vault.schemes.seeds import EphemeralSeedSource

DIM = 32


def test_upper_triangle_by_segments_equals_the_full_matrix() -> None:
    """Segments of 64 rows (some skipped for later probe chunks) give exactly the
    full matrix's scores above the diagonal - the only ones pair_scores reads."""
    units = identities(700, DIM, np.random.default_rng(0))
    keys = ephemeral_keys(EphemeralSeedSource(), "c", "orbit-rotation", DIM, DIM)

    def make() -> CancelableCollection:
        return CancelableCollection(record("c", "cancelable", DIM), keys)

    whole = make()
    enroll_all(whole, units, quiet, "protect")
    full = score_matrix(whole, units, quiet, "score")
    segments = enroll_segments(make, units, quiet, "protect", rows=64)
    upper = upper_score_matrix(segments, units, quiet, "score")
    i, j = np.triu_indices(len(units), 1)
    assert np.allclose(upper[i, j], full[i, j], atol=1e-6)
    assert np.isnan(upper[600, 10])  # a segment the last probe chunk skipped
    # The cancelable score is symmetric: the skipped half holds nothing new.
    assert np.allclose(full, full.T, atol=1e-5)


def test_products_multiplies_blockwise_and_mirrors_the_symmetric_case(monkeypatch) -> None:
    """Blocks of 7 rows (the last one short) give left @ right.T, and left @ left.T
    with its lower blocks mirrored from the upper ones."""
    monkeypatch.setattr(harness, "_PRODUCT_ROWS", 7)
    rng = np.random.default_rng(3)
    left, right = rng.normal(size=(20, DIM)), rng.normal(size=(13, DIM))
    square = harness.products(left, left)
    assert square.dtype == harness.SCORE_DTYPE
    assert np.allclose(square, left @ left.T, rtol=1e-6, atol=1e-5)
    assert np.allclose(harness.products(left, right), left @ right.T, rtol=1e-6, atol=1e-5)
