"""Coefficient <-> slot transforms match SEAL's CKKS encoder."""

import numpy as np

from vault.he.embedding import CoefficientEmbedding


def test_constant_polynomial_has_constant_slots():
    """Known answer: the polynomial 1 evaluates to 1 at every root."""
    emb = CoefficientEmbedding(16)
    unit = np.zeros((1, 16))
    unit[0, 0] = 1.0
    assert np.allclose(emb.to_slots(unit), 1.0)


def test_round_trip_recovers_coefficients():
    """from_slots inverts to_slots for random real coefficients."""
    emb = CoefficientEmbedding(4096)
    x = np.random.default_rng(0).standard_normal((3, 4096))
    assert np.allclose(emb.from_slots(emb.to_slots(x)), x, atol=1e-9)


def test_monomial_evaluates_at_seal_roots():
    """Slot i of X is zeta^(3^i mod 2N), the root order of SEAL's encoder."""
    n = 32
    emb = CoefficientEmbedding(n)
    x = np.zeros((1, n))
    x[0, 1] = 1.0
    exponents = [pow(3, i, 2 * n) for i in range(n // 2)]
    expected = np.exp(1j * np.pi * np.array(exponents) / n)
    assert np.allclose(emb.to_slots(x)[0], expected)
