"""The evaluation's scoring helpers against the collections they drive."""

import numpy as np

from tests.support.synthetic import identities
from vault.core.transform_seeds import EphemeralSeedSource
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
