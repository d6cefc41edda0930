"""CKKS blocks sealed at rest: AES-GCM under the collection's DEK, bound to position."""

import os

import numpy as np
import pytest

from tests.support.synthetic import identities, samples
from vault.errors import IntegrityError
from vault.keys.datakey import DataKey
from vault.keys.dataring import DataKeyRing
from vault.keys.sealing import BlobSealer
from vault.schemes.ckks import CkksCollection
from vault.schemes.ckks_blocks import decode_block
from vault.store.base import CollectionRecord

DIM = 32


def _record(name="c"):
    return CollectionRecord(name, "ckks", DIM, 1, True, (), 0.3, 0.0)


def _sealer(name="c"):
    ring = DataKeyRing(name)
    ring.add(1, DataKey._unsafe_from_material(os.urandom(32), "test"))
    return BlobSealer(ring)


def test_sealed_blocks_reload_and_refuse_being_moved(keyset):
    """With a sealer, blocks are AES-GCM sealed, reload exactly, and a block copied to
    another position or collection, or stored bare, is refused."""
    rng = np.random.default_rng(5)
    sealer = _sealer()
    collection = CkksCollection(keyset, _record(), sealer=sealer)
    templates = identities(20, DIM, rng)
    plan = collection.plan_enrollment([f"s{i}" for i in range(20)], templates, enrolled_at=1.0)
    blob = plan.blocks[0].blob
    # v2 payload: its 16-byte header, then c0 and the shared a packed at 36 bits.
    raw_size = 16 + (DIM + 1) * 4096 * 36 // 8
    assert len(blob) == 16 + raw_size + 28
    args = {"dim": DIM, "degree": 4096, "params_id": 1, "prime": keyset.prime}
    _, stored = decode_block(blob, sealer=sealer, block_no=0, **args)
    assert stored.version == 2 and not stored.ntt_form
    assert np.array_equal(stored.residues.c0, plan.residues[0].c0)
    assert np.array_equal(stored.residues.a, plan.residues[0].a)
    with pytest.raises(IntegrityError, match="failed authentication"):
        decode_block(blob, sealer=sealer, block_no=1, **args)
    with pytest.raises(IntegrityError, match="failed authentication"):
        decode_block(blob, sealer=_sealer("c"), block_no=0, **args)
    bare = (
        CkksCollection(keyset, _record())
        .plan_enrollment(["x"], templates[:1], enrolled_at=1.0)
        .blocks[0]
        .blob
    )
    with pytest.raises(IntegrityError, match="not sealed"):
        decode_block(bare, sealer=sealer, block_no=0, **args)
    with pytest.raises(IntegrityError, match="wrong size"):
        decode_block(blob, **args)


def test_blocks_in_the_old_format_still_load_score_and_erase(keyset):
    """A v1 block (SEAL's NTT-form pairs as raw u64, sealed) loads, scores its
    templates, takes no new ones, and is rewritten in the v2 pair form on erasure."""
    from vault.schemes.ckks_blocks import encode_block_v1
    from vault.store.base import BlockRecord, SubjectRecord

    rng = np.random.default_rng(8)
    sealer = _sealer()
    templates = identities(12, DIM, rng)
    values = np.zeros((DIM, 4096))
    values[:, :12] = templates.T
    old = keyset.encrypt_ntt_with_seal(values, 2.0**20)  # what the engine used to store
    blob = encode_block_v1(old, params_id=1, key_version=1, sealer=sealer, block_no=0)
    assert len(blob) == 16 + DIM * 2 * 4096 * 8 + 28
    args = {"dim": DIM, "degree": 4096, "params_id": 1, "prime": keyset.prime}
    _, stored = decode_block(blob, sealer=sealer, block_no=0, **args)
    assert stored.version == 1 and stored.ntt_form
    ids = [f"old{i}" for i in range(12)]
    collection = CkksCollection(keyset, _record(), sealer=sealer)
    collection.load(
        [BlockRecord("c", 0, blob, 12, 12, 1)],
        [SubjectRecord("c", sid, 0, slot, 1, 1.0) for slot, sid in enumerate(ids)],
    )
    probes = samples(templates, rng, spread=0.3)
    assert [r[0].subject_id for r in collection.identify(probes, 1)] == ids
    assert abs(collection.verify_score("old3", templates[3]) - 1.0) < 1e-3
    # New templates open a new (shared-form) block instead of extending the old one.
    plan = collection.plan_enrollment(["new"], templates[:1], enrolled_at=2.0)
    assert [b.block_no for b in plan.blocks] == [1] and plan.residues[1].shared
    erasure = collection.plan_erasure("old3")
    assert erasure.replacement is not None
    _, rewritten = decode_block(erasure.replacement.blob, sealer=sealer, block_no=0, **args)
    assert rewritten.version == 2 and not rewritten.residues.shared
    collection.apply_erasure(erasure)
    assert abs(collection.gallery.score_block(templates[3], 0)[3] - 1.0) > 0.1
    assert abs(collection.verify_score("old4", templates[4]) - 1.0) < 1e-3


def test_form_is_read_without_unpacking_and_checked_like_a_decode(keyset):
    """block_is_shared (a sharded front-end's start-up) opens and checks a sealed block
    like decode_block: shared for the engine's blocks, refused when moved or bare."""
    from vault.schemes.ckks_blocks import block_is_shared, encode_block_v1

    sealer = _sealer()
    collection = CkksCollection(keyset, _record(), sealer=sealer)
    plan = collection.plan_enrollment(["a", "b"], identities(2, DIM, np.random.default_rng(2)),
                                      enrolled_at=1.0)  # fmt: skip
    args = {"dim": DIM, "degree": 4096, "params_id": 1}
    assert block_is_shared(plan.blocks[0].blob, sealer=sealer, block_no=0, **args) is True
    v1 = encode_block_v1(
        np.zeros((DIM, 2, 4096), dtype=np.uint64), params_id=1, key_version=1,
        sealer=sealer, block_no=3,
    )  # fmt: skip
    assert block_is_shared(v1, sealer=sealer, block_no=3, **args) is False
    with pytest.raises(IntegrityError, match="failed authentication"):
        block_is_shared(plan.blocks[0].blob, sealer=sealer, block_no=1, **args)
    bare = CkksCollection(keyset, _record()).plan_enrollment(["x"], identities(1, DIM,
        np.random.default_rng(3)), enrolled_at=1.0).blocks[0].blob  # fmt: skip
    with pytest.raises(IntegrityError, match="not sealed"):
        block_is_shared(bare, sealer=sealer, block_no=0, **args)
