"""CKKS collection: enrol, erase, reload, tamper and known-answer checks on real TenSEAL."""

import numpy as np
import pytest

from tests.support.synthetic import identities, samples
from vault.blob import BlobHeader
from vault.errors import IntegrityError
from vault.he.keyset import CkksKeySet
from vault.schemes.ckks import CkksCollection
from vault.schemes.ckks_blocks import decode_block
from vault.store.base import CollectionRecord

DIM = 32


def _record(name="c"):
    return CollectionRecord(name, "ckks", DIM, 1, True, (), 0.3, 0.0)


def _enrolled(keyset, count, rng, name="c"):
    collection = CkksCollection(keyset, _record(name))
    templates = identities(count, DIM, rng)
    ids = [f"s{i}" for i in range(count)]
    plan = collection.plan_enrollment(ids, templates, enrolled_at=1.0)
    collection.apply_enrollment(plan)
    return collection, templates, ids, plan


def test_identify_finds_each_subject_first(keyset):
    """Known answer: a fresh sample of subject i ranks subject i first."""
    rng = np.random.default_rng(0)
    collection, templates, ids, _ = _enrolled(keyset, 50, rng)
    probes = samples(templates, rng, spread=0.3)
    results = collection.identify(probes, 3)
    assert [r[0].subject_id for r in results] == ids
    assert all(len(r) == 3 and r[0].score >= r[1].score >= r[2].score for r in results)


def test_enrolment_appends_into_the_open_block(keyset):
    """A second enrolment fills the same block and both batches stay scorable."""
    rng = np.random.default_rng(1)
    collection, templates, _, _ = _enrolled(keyset, 10, rng)
    more = identities(5, DIM, rng)
    plan = collection.plan_enrollment([f"t{i}" for i in range(5)], more, enrolled_at=2.0)
    assert [b.block_no for b in plan.blocks] == [0] and plan.blocks[0].next_slot == 15
    collection.apply_enrollment(plan)
    assert collection.location("t4") == (0, 14)
    assert abs(collection.verify_score("s3", templates[3]) - 1.0) < 1e-3
    assert abs(collection.verify_score("t2", more[2]) - 1.0) < 1e-3


def test_erasure_destroys_only_the_erased_slot(keyset):
    """After erasure the slot decrypts to noise while neighbours keep exact scores."""
    rng = np.random.default_rng(2)
    collection, templates, _, _ = _enrolled(keyset, 20, rng)
    # The pad makes slot 5 decode to a uniform value in about [-4, 4]: one probe lands
    # within 1e-2 of its old score by chance 0.25 % of the time, eight probes never.
    probes = np.vstack([templates[5], identities(7, templates.shape[1], rng)])
    before = np.array([collection.gallery.score_block(q, 0) for q in probes])
    plan = collection.plan_erasure("s5")
    collection.apply_erasure(plan)
    after = np.array([collection.gallery.score_block(q, 0) for q in probes])
    assert abs(before[0, 5] - 1.0) < 1e-3
    assert np.abs(after[:, 5] - before[:, 5]).max() > 1e-2
    assert np.abs(np.delete(after - before, 5, axis=1)[:, :19]).max() < 1e-6
    assert "s5" not in {m.subject_id for m in collection.identify(templates[5:6], 20)[0]}


def test_erasing_last_subject_drops_block(keyset):
    """Erasing a block's only template drops the whole block."""
    collection, _, _, _ = _enrolled(keyset, 1, np.random.default_rng(3))
    plan = collection.plan_erasure("s0")
    assert plan.replacement is None
    collection.apply_erasure(plan)
    assert collection.gallery.block_nos == () and collection.size == 0


def test_reload_from_records_gives_identical_scores(keyset):
    """A collection rebuilt from its stored blocks and subjects answers identically."""
    rng = np.random.default_rng(4)
    collection, templates, _, plan = _enrolled(keyset, 30, rng)
    clone = CkksCollection(keyset, _record())
    clone.load(plan.blocks, plan.subjects)
    probes = samples(templates[:4], rng)
    assert collection.identify(probes, 5) == clone.identify(probes, 5)


def test_tampered_block_header_is_rejected(keyset):
    """A block whose header names another parameter set fails integrity checks."""
    _, _, _, plan = _enrolled(keyset, 2, np.random.default_rng(5))
    blob = plan.blocks[0].blob
    header = BlobHeader.unpack(blob)
    forged = BlobHeader(header.scheme, 7, header.key_version, header.kind).pack() + blob[16:]
    with pytest.raises(IntegrityError):
        decode_block(forged, dim=DIM, degree=4096, params_id=1, prime=keyset.prime)
    with pytest.raises(IntegrityError):
        decode_block(blob[:-8], dim=DIM, degree=4096, params_id=1, prime=keyset.prime)


def test_blocks_under_another_key_do_not_match(keyset):
    """Blocks loaded into a collection with a different secret key score as noise."""
    rng = np.random.default_rng(6)
    owner, templates, ids, plan = _enrolled(keyset, 20, rng)
    stranger = CkksCollection(CkksKeySet.generate(keyset.params), _record())
    stranger.load(plan.blocks, plan.subjects)
    own = np.array([owner.verify_score(s, t) for s, t in zip(ids, templates, strict=True)])
    foreign = np.array([stranger.verify_score(s, t) for s, t in zip(ids, templates, strict=True)])
    assert np.abs(own - 1.0).max() < 1e-3
    # Under a foreign key a slot decodes to roughly uniform noise in [-4, 4], so one
    # score lands within 0.1 of 1.0 about 2.5 % of the time; half of twenty never do.
    assert np.median(np.abs(foreign - 1.0)) > 0.1


def test_stored_blob_holds_no_template_bytes(keyset):
    """The stored blob contains neither float32 nor float64 encodings of any template."""
    rng = np.random.default_rng(8)
    _, templates, _, plan = _enrolled(keyset, 8, rng)
    blob = plan.blocks[0].blob
    for row in templates:
        for dtype in (np.float32, np.float64):
            encoded = row.astype(dtype).tobytes()
            assert all(encoded[i : i + 8] not in blob for i in range(0, len(encoded), 8))


def test_vectorised_top_k_equals_the_shared_ranking():
    """The engines' one-shot top-k (vault.he.topk) gives exactly ranking.top_k_matches' answers."""
    from vault.he.topk import top_columns
    from vault.schemes.ranking import top_k_matches
    from vault.types import Match

    def _top_k(ids, scores, k):
        return [
            [Match(ids[c], float(scores[r, c])) for c in row]
            for r, row in enumerate(top_columns(scores, min(k, len(ids))))
        ]

    rng = np.random.default_rng(12)
    for n in (500, 3 * 4096 + 17, 20 * 4096 + 5):  # below, near and above the span bound
        ids = [f"s{i}" for i in range(n)]
        scores = rng.uniform(-1, 1, (5, n))
        scores[1, -3:] = [2.0, 2.2, 2.1]  # winners in the tail beyond the last whole span
        for k in (1, 5, 10):
            assert _top_k(ids, scores, k) == top_k_matches(ids, scores, k)
    assert _top_k(ids[:7], scores[:, :7], 900) == top_k_matches(ids[:7], scores[:, :7], 900)
    assert _top_k([], np.empty((2, 0)), 3) == [[], []]
