"""Hybrid collections: keyed projection to d/2, then the real CKKS engine."""

import numpy as np
import pytest

from tests.support.synthetic import identities, samples
from vault.schemes.hybrid import HybridCollection, hybrid_dim
from vault.schemes.seeds import CollectionTransformKeys, EphemeralSeedSource
from vault.store.base import CollectionRecord

DIM = 128


def _collection(keyset, source: EphemeralSeedSource, name: str = "h") -> HybridCollection:
    keys = CollectionTransformKeys(
        source, name, purpose="hybrid-projection", dim=DIM, out_dim=hybrid_dim(DIM)
    )
    keys.ensure_first()
    return HybridCollection(
        keyset, CollectionRecord(name, "hybrid", DIM, 1, True, (), 0.3, 0.0), keys
    )


def _enroll(collection: HybridCollection, rows: np.ndarray, prefix: str = "s") -> list[str]:
    ids = [f"{prefix}{i}" for i in range(len(rows))]
    collection.apply_enrollment(collection.plan_enrollment(ids, rows, enrolled_at=0.0))
    return ids


def test_round_trip_on_half_the_ciphertexts(keyset) -> None:
    """The encrypted gallery has d/2 coordinates; genuine probes rank first and the
    decrypted scores equal the projected cosines within CKKS precision."""
    rng = np.random.default_rng(0)
    centres = identities(30, DIM, rng)
    gallery, probes = samples(centres, rng), samples(centres, rng)
    collection = _collection(keyset, EphemeralSeedSource())
    ids = _enroll(collection, gallery)
    assert collection.inner.record.dim == DIM // 2
    assert [m[0].subject_id for m in collection.identify(probes, 1)] == ids
    expected = collection.transform(probes, 1) @ collection.transform(gallery, 1).T
    got_ids, scores = collection.unsafe_all_scores(probes)
    order = [int(s[1:]) for s in got_ids]
    assert np.abs(scores - expected[:, order]).max() < 1e-3
    assert collection.verify_score("s4", probes[4]) == pytest.approx(expected[4, 4], abs=1e-3)


def test_wrong_key_does_not_match(keyset) -> None:
    """Projections under two collection keys of the same person are unrelated."""
    rng = np.random.default_rng(1)
    centres = identities(30, DIM, rng)
    first, second = samples(centres, rng), samples(centres, rng)
    source = EphemeralSeedSource()
    a, b = _collection(keyset, source, "a"), _collection(keyset, source, "b")
    cross = np.sum(a.transform(first, 1) * b.transform(second, 1), axis=1)
    same = np.sum(a.transform(first, 1) * a.transform(second, 1), axis=1)
    assert np.abs(cross).mean() < 0.2 and same.mean() > 0.55


def test_renewal_keeps_old_templates_matching_their_own_version(keyset) -> None:
    """After rotation old templates still match (scored under v1), new ones use v2,
    and a v1 template does not match a v2-projected probe."""
    rng = np.random.default_rng(2)
    centres = identities(20, DIM, rng)
    gallery, probes = samples(centres, rng), samples(centres, rng)
    collection = _collection(keyset, EphemeralSeedSource())
    _enroll(collection, gallery[:10])
    assert collection.transform_keys.renew() == 2
    _enroll(collection, gallery[10:], prefix="n")
    assert collection.counts_by_version() == {1: 10, 2: 10}
    top = collection.identify(probes, 1)
    assert [m[0].subject_id for m in top] == [f"s{i}" for i in range(10)] + [
        f"n{i}" for i in range(10)
    ]
    cross = collection.transform(probes[:10], 2) @ collection.transform(gallery[:10], 1).T
    assert np.abs(np.diag(cross)).mean() < 0.2
