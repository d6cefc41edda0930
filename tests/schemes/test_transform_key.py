"""Keyed transform derivation: deterministic, separated by collection/version, opaque."""

import copy
import pickle

import numpy as np
import pytest

from vault.errors import InvalidArgument
from vault.schemes.transform_key import KeyedMatrix, derive_material

SEED = bytes(range(32))


def _derive(**overrides) -> KeyedMatrix:
    args = {"purpose": "orbit-rotation", "collection": "faces", "version": 1, "dim": 64}
    args.update(overrides)
    args.setdefault("out_dim", args["dim"])
    return KeyedMatrix.unsafe_derive(overrides.pop("seed", SEED), **args)


def test_derivation_is_deterministic() -> None:
    """The same seed, collection and version give the same matrix."""
    assert np.array_equal(_derive().unsafe_matrix(), _derive().unsafe_matrix())


def test_known_answer() -> None:
    """HKDF output and the derived matrix are pinned: stored templates must keep
    matching across upgrades of numpy or Python."""
    material = derive_material(SEED, purpose="orbit-rotation", collection="faces", version=1)
    assert material.hex() == "650d7e875b556b23fc3d40dead815347d888726e37e6bf71a7bf723369b147e7"
    matrix = _derive().unsafe_matrix()
    assert matrix[0, :3] == pytest.approx(
        [0.1332261046959724, 0.02746959034171169, -0.07934658950102233], abs=1e-9
    )
    assert matrix[63, -2:] == pytest.approx([0.06635991341657854, -0.04275654320425803], abs=1e-9)


@pytest.mark.parametrize(
    "change", [{"version": 2}, {"collection": "other"}, {"purpose": "hybrid-projection"}]
)
def test_each_input_changes_the_key(change: dict) -> None:
    """Another version, collection or purpose gives an unrelated matrix."""
    a, b = _derive().unsafe_matrix(), _derive(**change).unsafe_matrix()
    assert np.abs(a - b).max() > 0.1


def test_rows_are_orthonormal() -> None:
    """Full rotations and projections both have orthonormal rows."""
    for out_dim in (64, 32):
        m = _derive(out_dim=out_dim).unsafe_matrix()
        assert np.allclose(m @ m.T, np.eye(out_dim), atol=1e-10)


def test_handles_are_opaque() -> None:
    """No pickling, copying or printing of the key."""
    key = _derive()
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(TypeError):
        copy.deepcopy(key)
    assert "hidden" in repr(key)
    with pytest.raises(TypeError):
        KeyedMatrix(object(), np.eye(2), 1)


def test_bad_seed_is_refused() -> None:
    """Seeds must be 32 bytes and versions start at 1."""
    with pytest.raises(InvalidArgument):
        derive_material(b"short", purpose="p", collection="c", version=1)
    with pytest.raises(InvalidArgument):
        derive_material(SEED, purpose="p", collection="c", version=0)
