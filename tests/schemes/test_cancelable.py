"""Cancelable collections: round trip, wrong key, renewal, tampering, unlinkability."""

import dataclasses
import os
import select
import signal

import numpy as np
import pytest

from tests.support.synthetic import identities, samples
from vault.blob import HEADER_SIZE
from vault.errors import IntegrityError
from vault.evaluation.dsys import dsys
from vault.keys.datakey import DataKey
from vault.keys.dataring import DataKeyRing
from vault.keys.sealing import BlobSealer
from vault.schemes.cancelable import CancelableCollection
from vault.schemes.orbit import apply_group, max_correlation, random_salt, spectra
from vault.schemes.seeds import CollectionTransformKeys, EphemeralSeedSource
from vault.store.base import CollectionRecord, SubjectRecord

DIM = 128


def _collection(source: EphemeralSeedSource, name: str = "faces") -> CancelableCollection:
    keys = CollectionTransformKeys(source, name, purpose="orbit-rotation", dim=DIM, out_dim=DIM)
    keys.ensure_first()
    record = CollectionRecord(name, "cancelable", DIM, 1, True, (), 0.3, 0.0)
    return CancelableCollection(record, keys)


@pytest.fixture
def people() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = identities(40, DIM, rng)
    return centres, samples(centres, rng), samples(centres, rng)


def _enroll(collection: CancelableCollection, rows: np.ndarray, prefix: str = "s") -> list[str]:
    ids = [f"{prefix}{i}" for i in range(len(rows))]
    collection.apply_enrollment(collection.plan_enrollment(ids, rows, enrolled_at=0.0))
    return ids


def test_group_alignment_recovers_the_cosine() -> None:
    """The best alignment over the salt group is exactly the cosine of the originals."""
    rng = np.random.default_rng(1)
    x = identities(5, DIM, rng)
    p = samples(x, rng)
    stored = apply_group(x, *random_salt(5, DIM))
    scores = max_correlation(spectra(p), spectra(stored), DIM)
    assert np.allclose(np.diag(scores), np.sum(x * p, axis=1), atol=1e-5)


def test_threaded_gallery_scoring_equals_brute_force() -> None:
    """A gallery large enough to be split over threads scores every column exactly as
    a brute-force max over all 4d group elements does."""
    rng = np.random.default_rng(3)
    gallery = identities(1300, DIM, rng)
    probes = identities(3, DIM, rng)
    scores = max_correlation(spectra(probes), spectra(gallery), DIM)
    columns = rng.choice(1300, 40, replace=False)
    for column in columns:
        orbit = np.concatenate(
            [
                np.roll(row, shift)[None, :]
                for row in (gallery[column], gallery[column][::-1])
                for shift in range(DIM)
            ]
        )
        expected = np.abs(probes @ orbit.T).max(axis=1)
        assert np.allclose(scores[:, column], expected, atol=1e-5)
    # Every column was written (np.empty leaves garbage where a span is skipped).
    assert np.all(scores > 0) and np.all(scores <= 1 + 1e-5)


def test_round_trip(people) -> None:
    """Genuine probes score their cosine and rank first; impostors stay low."""
    _, gallery, probes = people
    collection = _collection(EphemeralSeedSource())
    ids = _enroll(collection, gallery)
    expected = np.sum(gallery * probes, axis=1)
    assert collection.verify_score("s3", probes[3]) == pytest.approx(expected[3], abs=1e-5)
    assert collection.verify_score("s4", probes[3]) < 0.45
    top = collection.identify(probes, 1)
    assert [m[0].subject_id for m in top] == ids


def test_wrong_key_does_not_match(people) -> None:
    """A template stored under another collection's key is impostor-like to probes."""
    _, gallery, probes = people
    source = EphemeralSeedSource()
    mine, other = _collection(source, "mine"), _collection(source, "other")
    stored_elsewhere = other.protect(gallery, 1)
    own_probes = spectra(mine.transform_keys.matrix(1).apply(probes))
    scores = max_correlation(own_probes, spectra(stored_elsewhere), DIM)
    assert np.diag(scores).mean() < 0.4  # impostor-like (~0.31); genuine cosine is ~0.67


def test_renewal_old_version_stops_matching_new_version_probes(people) -> None:
    """After rotation a v1 template does not match a probe rotated with v2's key,
    still matches its own v1 probe path, and new enrolments use v2."""
    _, gallery, probes = people
    collection = _collection(EphemeralSeedSource())
    _enroll(collection, gallery[:20])
    old = collection.protect(gallery[:20], 1)
    assert collection.transform_keys.renew() == 2
    new_probes = spectra(collection.transform_keys.matrix(2).apply(probes[:20]))
    assert np.diag(max_correlation(new_probes, spectra(old), DIM)).mean() < 0.4
    assert collection.verify_score("s0", probes[0]) > 0.5  # scored under its own version
    _enroll(collection, gallery[20:], prefix="n")
    assert collection.counts_by_version() == {1: 20, 2: 20}
    assert collection.subjects_before(2) == sorted(f"s{i}" for i in range(20))


def test_reload_from_blocks_and_erase(people) -> None:
    """Stored blocks reload to the same scores; an erased row is gone."""
    _, gallery, probes = people
    source = EphemeralSeedSource()
    collection = _collection(source)
    ids = _enroll(collection, gallery)
    plan = collection.plan_erasure("s2")
    assert plan.replacement is not None
    collection.apply_erasure(plan)
    live = [SubjectRecord("faces", s, 0, i, 1, 0.0) for i, s in enumerate(ids) if s != "s2"]
    reloaded = _collection(source)
    reloaded.load([plan.replacement], live)
    assert reloaded.size == len(ids) - 1
    assert reloaded.location("s2") is None
    assert reloaded.verify_score("s5", probes[5]) == pytest.approx(
        collection.verify_score("s5", probes[5]), abs=1e-6
    )
    assert "s2" not in reloaded.unsafe_all_scores(probes[:1])[0]


def test_tampered_block_is_rejected(people) -> None:
    """A block whose header or size was altered does not load."""
    _, gallery, _ = people
    collection = _collection(EphemeralSeedSource())
    plan = collection.plan_enrollment(["a", "b"], gallery[:2], enrolled_at=0.0)
    blob = bytearray(plan.blocks[0].blob)
    for broken in (blob[:-4], blob[:5] + b"\x09" + blob[6:]):
        block = dataclasses.replace(plan.blocks[0], blob=bytes(broken))
        with pytest.raises(IntegrityError):
            _collection(EphemeralSeedSource()).load([block], [])
    assert len(blob) > HEADER_SIZE


def test_unlinkable_across_keys_and_versions() -> None:
    """D_sys between two collection keys, or two key versions of one collection,
    stays small on synthetic data, while comparisons under one key are linkable."""
    rng = np.random.default_rng(3)
    centres = identities(60, DIM, rng)
    first, second = samples(centres, rng), samples(centres, rng)
    source = EphemeralSeedSource()
    a, b = _collection(source, "a"), _collection(source, "b")
    cross = max_correlation(spectra(a.protect(first, 1)), spectra(b.protect(second, 1)), DIM)
    same = max_correlation(spectra(a.protect(first, 1)), spectra(a.protect(second, 1)), DIM)
    mask = np.eye(len(centres), dtype=bool)
    assert dsys(cross[mask], cross[~mask], bins=20) < 0.2
    assert dsys(same[mask], same[~mask], bins=20) > 0.9
    # Two key versions of one collection are as unrelated as two collections.
    a.transform_keys.renew()
    renewed = max_correlation(spectra(a.protect(first, 1)), spectra(a.protect(second, 2)), DIM)
    assert dsys(renewed[mask], renewed[~mask], bins=20) < 0.2


def test_sealed_blocks_reload_and_refuse_being_moved(people) -> None:
    """With the collection's sealer, blocks are AES-GCM sealed, reload exactly, and a
    block moved to another position, or stored bare, is refused."""
    _, gallery, probes = people
    ring = DataKeyRing("faces")
    ring.add(1, DataKey._unsafe_from_material(os.urandom(32), "test"))
    sealer = BlobSealer(ring)
    source = EphemeralSeedSource()
    keys = CollectionTransformKeys(source, "faces", purpose="orbit-rotation", dim=DIM, out_dim=DIM)
    keys.ensure_first()
    record = CollectionRecord("faces", "cancelable", DIM, 1, True, (), 0.3, 0.0)
    collection = CancelableCollection(record, keys, sealer=sealer)
    ids = [f"s{i}" for i in range(len(gallery))]
    plan = collection.plan_enrollment(ids, gallery, enrolled_at=0.0)
    block = plan.blocks[0]
    assert block.blob[16:20] != b"BVCT"  # the payload is encrypted
    subjects = list(plan.subjects)
    reloaded = CancelableCollection(record, keys, sealer=sealer)
    reloaded.load([block], subjects)
    expected = float(np.sum(gallery[7] * probes[7]))
    assert reloaded.verify_score("s7", probes[7]) == pytest.approx(expected, abs=1e-5)
    moved = dataclasses.replace(block, block_no=1)
    with pytest.raises(IntegrityError):
        CancelableCollection(record, keys, sealer=sealer).load([moved], [])
    bare = CancelableCollection(record, keys).plan_enrollment(ids, gallery, enrolled_at=0.0)
    with pytest.raises(IntegrityError):
        CancelableCollection(record, keys, sealer=sealer).load([bare.blocks[0]], [])


def test_orbit_scoring_works_in_a_forked_child() -> None:
    """A child forked after the parent's thread pool exists scores with a fresh pool
    instead of waiting on the parent's threads."""
    rng = np.random.default_rng(4)
    gallery, probes = identities(1300, DIM, rng), identities(2, DIM, rng)
    expected = max_correlation(spectra(probes), spectra(gallery), DIM)  # pool now exists
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            scores = max_correlation(spectra(probes), spectra(gallery), DIM)
            os.write(write, b"1" if np.allclose(scores, expected) else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answered, _, _ = select.select([read], [], [], 60)
    if not answered:  # the child waits on threads it does not have
        os.kill(child, signal.SIGKILL)
    _, status = os.waitpid(child, 0)
    assert answered, "the forked child hung scoring"
    assert os.read(read, 1) == b"1" and os.waitstatus_to_exitcode(status) == 0
