"""Vectorised encryption and decryption against SEAL's own, the ring arithmetic
against schoolbook products, and the shared block form against plaintext scores."""

import pickle

import numpy as np
import pytest

from tests.support.synthetic import identities, samples
from vault.he.gallery import BlockResidues, EncryptedGallery
from vault.he.ring import (
    NOISE_BOUND,
    NegacyclicFFT,
    sample_rounded_gaussian,
    sample_uniform_mod,
)

SCALE = 2.0**20


def _schoolbook(a, b, prime=None):
    """Negacyclic product with Python integers (optionally mod p)."""
    n = len(a)
    out = [0] * n
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            k = i + j
            if k < n:
                out[k] += int(x) * int(y)
            else:
                out[k - n] -= int(x) * int(y)
    return [v % prime if prime else v for v in out]


def test_vectorised_decryption_equals_seal_on_random_ciphertexts(keyset):
    """Known answer: uniformly random NTT-form ciphertexts decrypt to the same values
    through SEAL (decrypt + decode) and through our coefficient-form path."""
    rng = np.random.default_rng(1)
    n = keyset.params.poly_modulus_degree
    random_ntt = rng.integers(0, keyset.prime, (6, 2, n), dtype=np.uint64)
    by_seal = keyset.decrypt_ntt_with_seal(random_ntt, SCALE)
    ours = keyset.decrypt_coefficients_here(keyset.ntt_to_coefficients(random_ntt), SCALE)
    assert np.abs(by_seal).max() > 1e4  # random ciphertexts decrypt to large garbage
    assert np.abs(by_seal - ours).max() < 1e-6


def test_seal_decrypts_our_encryptions_and_we_decrypt_seals(keyset):
    """Our numpy encryption is SEAL-compatible in both directions."""
    x = np.random.default_rng(2).uniform(-1, 1, (5, keyset.params.poly_modulus_degree))
    ours = keyset.encrypt_coefficients_here(x, SCALE)
    assert (ours < keyset.prime).all()
    seal_view = keyset.coefficients_to_ntt(ours)
    assert np.abs(keyset.decrypt_ntt_with_seal(seal_view, SCALE) - x).max() < 1e-4
    theirs = keyset.ntt_to_coefficients(keyset.encrypt_ntt_with_seal(x, SCALE))
    assert np.abs(keyset.decrypt_coefficients_here(theirs, SCALE) - x).max() < 1e-4
    # Fresh randomness: encrypting the same message twice gives different ciphertexts.
    assert not np.array_equal(ours, keyset.encrypt_coefficients_here(x, SCALE))


def test_ring_products_match_schoolbook():
    """The folded FFT product equals the exact negacyclic product: exactly for the
    encryption path, within a few units for the approximate decryption path."""
    rng = np.random.default_rng(3)
    fft, prime = NegacyclicFFT(64), 68719230977
    u = rng.integers(0, prime, (3, 64), dtype=np.uint64)
    s = rng.integers(-1, 2, (3, 64))
    exact = fft.exact_ternary_products(u, fft.forward(s.astype(np.float64)), prime)
    for row in range(3):
        assert exact[row].tolist() == _schoolbook(u[row], s[row], prime)
    big = rng.integers(-(2**35), 2**35, 64)
    small = rng.integers(-(2**18), 2**18, 64)
    approx = fft.inverse(
        fft.forward(big.astype(float)[None]) * fft.forward(small.astype(float)[None])
    )
    truth = np.array(_schoolbook(big, small), dtype=object)
    assert max(abs(round(x) - t) for x, t in zip(approx[0], truth, strict=True)) < 2**12


def test_noise_and_uniform_samplers_have_the_right_distributions():
    """Rounded normal(0, 3.2) clipped at 6 sigma; uniform residues below p."""
    noise = sample_rounded_gaussian((200_000,))
    assert abs(noise.mean()) < 0.05 and abs(noise.std() - 3.2) < 0.05
    assert np.abs(noise).max() <= NOISE_BOUND and np.array_equal(noise, np.rint(noise))
    prime = 68719230977
    uniform = sample_uniform_mod(prime, 200_000)
    assert uniform.max() < prime and abs(uniform.mean() / prime - 0.5) < 0.01


def test_shared_blocks_score_like_plaintext_and_like_pair_blocks(keyset):
    """A shared-form block (one a, per-coordinate secrets) scores within 1e-3 of
    plaintext, and agrees with the same templates stored in pair form."""
    dim, n = 64, keyset.params.poly_modulus_degree
    rng = np.random.default_rng(4)
    templates = identities(300, dim, rng)
    values = np.zeros((dim, n))
    values[:, :300] = templates.T
    c0, a = keyset.encrypt_block(values, SCALE)
    gallery = EncryptedGallery(keyset, dim)
    gallery.put(0, BlockResidues(c0, a=a))
    gallery.put(1, BlockResidues(c0, a=a))
    pairs = keyset.encrypt_coefficients(values, SCALE)
    gallery.put(2, BlockResidues(pairs[:, 0], c1=pairs[:, 1]))
    probes = samples(templates[:8], rng)
    scores = gallery.score(probes).scores.reshape(len(probes), 3, n)[:, :, :300]
    plain = probes @ templates.T
    assert np.abs(scores - plain[:, None, :]).max() < 1e-3
    assert np.abs(scores[:, 0] - scores[:, 2]).max() < 2e-4  # only the noise differs
    single = np.array([gallery.score_block(p, 0)[:300] for p in probes])
    assert np.allclose(single, scores[:, 0], atol=1e-9)
    assert gallery.block(0).shared and not gallery.block(2).shared
    assert np.array_equal(gallery.block(0).c0, c0) and np.array_equal(gallery.block(0).a, a)


def test_secret_material_cannot_be_pickled(keyset):
    with pytest.raises(TypeError):
        pickle.dumps(keyset._secret)
    assert "hidden" in repr(keyset._secret)
