"""Embedding profiles: Ledoit-Wolf whitening, exact inverse, safe (de)serialisation."""

from __future__ import annotations

import io

import numpy as np
import pytest

from tests.support.synthetic import anisotropic_people
from vault.errors import InvalidArgument
from vault.schemes.profile import MIN_SAMPLES_PER_DIM, EmbeddingProfile

DIM = 64


@pytest.fixture(scope="module")
def population() -> np.ndarray:
    rows, _ = anisotropic_people(400, 4, DIM, np.random.default_rng(3))
    return rows


def _spread(rows: np.ndarray) -> float:
    """Largest over smallest covariance eigenvalue."""
    values = np.linalg.eigvalsh(np.cov(rows.T))
    return float(values[-1] / values[0])


def test_whitening_makes_unseen_embeddings_nearly_isotropic(population) -> None:
    profile = EmbeddingProfile.fit(population[:800])
    unseen = population[800:]
    assert 0 < profile.shrinkage < 1
    # (800 isotropic samples in 64 dims already show a spread of ~3 by chance.)
    assert _spread(profile.apply(unseen)) < _spread(unseen) / 2
    assert np.allclose(np.linalg.norm(profile.apply(unseen), axis=1), 1.0)


def test_inverse_recovers_the_unit_template(population) -> None:
    profile = EmbeddingProfile.fit(population)
    assert np.abs(profile.inverse(profile.apply(population[:50])) - population[:50]).max() < 1e-8


def test_bytes_round_trip_and_digest(population) -> None:
    profile = EmbeddingProfile.fit(population)
    again = EmbeddingProfile.from_bytes(profile.to_bytes(), dim=DIM)
    assert np.array_equal(again.whitening, profile.whitening)
    assert np.array_equal(again.mean, profile.mean)
    assert again.digest() == profile.digest() and len(profile.digest()) == 64


def test_too_few_embeddings_are_refused(population) -> None:
    with pytest.raises(InvalidArgument, match=f"at least {MIN_SAMPLES_PER_DIM * DIM}"):
        EmbeddingProfile.fit(population[: MIN_SAMPLES_PER_DIM * DIM - 1])


def _npz(**arrays: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def test_bad_profiles_are_refused_with_a_reason(population) -> None:
    good = EmbeddingProfile.fit(population)
    fields = {
        "format": np.array("biovault embedding profile v1"),
        "mean": good.mean,
        "whitening": good.whitening,
        "samples": np.array(good.samples),
        "shrinkage": np.array(good.shrinkage),
    }
    cases = {
        b"not a zip": "unreadable",
        _npz(**{**fields, "format": np.array("something else")}): "not a biovault",
        _npz(**{**fields, "whitening": good.whitening[:, :-1]}): "inconsistent shapes",
        _npz(**{**fields, "mean": good.mean * np.nan}): "non-finite",
        _npz(**{**fields, "whitening": -good.whitening}): "positive definite",
        _npz(**{**fields, "mean": good.mean * 1e3}): "unit embeddings",
        _npz(**{**fields, "mean": np.array([None] * DIM, dtype=object)}): "unreadable",
    }
    for data, reason in cases.items():
        with pytest.raises(InvalidArgument, match=reason):
            EmbeddingProfile.from_bytes(data)
    with pytest.raises(InvalidArgument, match="dimension 64, not 32"):
        EmbeddingProfile.from_bytes(good.to_bytes(), dim=32)


def test_a_compressed_archive_that_would_inflate_is_refused_before_loading() -> None:
    """A small zip bomb is measured by its declared sizes, never expanded."""
    out = io.BytesIO()
    np.savez_compressed(out, format=np.array("biovault embedding profile v1"),
                        mean=np.zeros(1), whitening=np.zeros((3000, 3000)),
                        samples=np.array(1), shrinkage=np.array(0.0))  # fmt: skip
    assert len(out.getvalue()) < 1024 * 1024  # 72 MB of zeros compress to little
    with pytest.raises(InvalidArgument, match="too large"):
        EmbeddingProfile.from_bytes(out.getvalue())
