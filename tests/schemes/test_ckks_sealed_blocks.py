"""CKKS blocks sealed at rest: AES-GCM under the collection's DEK, bound to position."""

import os

import numpy as np
import pytest

from tests.support.synthetic import identities
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
    raw_size = DIM * 2 * 4096 * 8
    assert len(blob) == 16 + raw_size + 28
    args = {"dim": DIM, "degree": 4096, "params_id": 1, "prime": keyset.prime}
    _, residues = decode_block(blob, sealer=sealer, block_no=0, **args)
    assert np.array_equal(residues, plan.residues[0])
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
