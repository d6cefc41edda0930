"""Exact modular helpers agree with Python's big integers."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from vault.he.modmath import center, mulmod_scalar_vector, reduce_exact, uncenter

PRIME = 68719230977  # a 36-bit NTT prime of the default preset


@given(
    st.lists(st.integers(0, PRIME - 1), min_size=1, max_size=8),
    st.lists(st.integers(0, PRIME - 1), min_size=1, max_size=8),
)
def test_mulmod_matches_big_integers(a, b):
    """Every entry of the outer product equals (a_i * b_j) mod p."""
    got = mulmod_scalar_vector(np.array(a, np.uint64), np.array(b, np.uint64), PRIME)
    assert got.tolist() == [[x * y % PRIME for y in b] for x in a]


@given(st.lists(st.integers(-(2**52), 2**52), min_size=1, max_size=16))
def test_reduce_exact_matches_big_integers(values):
    """Exact float64 integers reduce to the same residue as Python's %."""
    got = reduce_exact(np.array(values, dtype=np.float64), PRIME)
    assert got.tolist() == [v % PRIME for v in values]


def test_center_and_uncenter_are_inverse():
    """Centring then uncentring returns the original residues."""
    residues = np.array([0, 1, PRIME // 2, PRIME // 2 + 1, PRIME - 1], dtype=np.uint64)
    assert np.array_equal(uncenter(center(residues, PRIME), PRIME), residues)
    assert center(residues, PRIME).tolist()[-1] == -1.0
