"""Encrypted gallery scoring equals plaintext scoring, batched and single paths agree."""

import numpy as np
import pytest

from tests.support.synthetic import identities, samples
from vault.he.gallery import EncryptedGallery

DIM = 64


def _fill(keyset, templates):
    gallery = EncryptedGallery(keyset, DIM)
    n = keyset.params.poly_modulus_degree
    for block_no, first in enumerate(range(0, len(templates), n)):
        rows = templates[first : first + n]
        values = np.zeros((DIM, n))
        values[:, : len(rows)] = rows.T
        gallery.put_block(block_no, keyset.encrypt_coefficients(values, 2.0**20))
    return gallery


@pytest.mark.parametrize("size", [1, 37, 4096 + 5])
def test_scores_match_plaintext(keyset, size):
    """Every decrypted score is within 1e-3 of the float64 cosine, whatever the fill."""
    rng = np.random.default_rng(size)
    gallery_templates = identities(size, DIM, rng)
    probes = samples(gallery_templates[: min(size, 4)], rng)
    result = _fill(keyset, gallery_templates).score(probes)
    assert np.abs(result.scores[:, :size] - probes @ gallery_templates.T).max() < 1e-3


def test_batched_and_single_paths_agree_exactly(keyset):
    """Scoring probes together or one at a time gives bit-identical scores."""
    rng = np.random.default_rng(7)
    gallery = _fill(keyset, identities(300, DIM, rng))
    probes = identities(3, DIM, rng)
    together = gallery.score(probes).scores
    for row, probe in enumerate(probes):
        assert np.array_equal(gallery.score(probe[None]).scores[0], together[row])
        assert np.array_equal(gallery.score_block(probe, 0), together[row, :4096])


def test_dropped_block_disappears_and_others_stay(keyset):
    """After dropping a block the remaining block still scores correctly."""
    rng = np.random.default_rng(3)
    templates = identities(4096 + 10, DIM, rng)
    gallery = _fill(keyset, templates)
    gallery.drop_block(0)
    probe = templates[4096:4097]
    result = gallery.score(probe)
    assert result.block_nos == (1,)
    assert np.abs(result.scores[0, :10] - probe @ templates[4096:].T).max() < 1e-3


def test_unnormalised_probe_is_refused(keyset):
    """A probe far from unit norm would break exactness, so it is rejected."""
    from vault.errors import InvalidArgument

    gallery = _fill(keyset, identities(2, DIM, np.random.default_rng(0)))
    with pytest.raises(InvalidArgument):
        gallery.score(np.full((1, DIM), 1e6))


def test_worst_case_probe_product_is_exact(keyset):
    """The flattest unit probe (largest L1 norm) against extreme residues multiplies
    exactly in float64: the same numbers as Python's big integers."""
    dim = 512
    gallery = EncryptedGallery(keyset, dim)
    rng = np.random.default_rng(0)
    half = keyset.prime // 2
    # Residues at the edges of the centred range make the partial sums largest.
    residues = rng.choice(np.array([half, half + 1], dtype=np.uint64), size=(dim, 2, 4096))
    residues[:, 0, :32] = half  # same sign everywhere: the sum reaches ~2^52.5
    gallery.put_block(0, residues)
    probe = np.full((1, dim), 1 / np.sqrt(dim))
    q = gallery.integer_probes(probe)
    chunk, cols = gallery._columns(gallery._position[0])
    product = (q @ chunk[:, cols])[0]
    centred = chunk[:, cols][:, :64].astype(np.int64)
    exact = [
        sum(int(a) * int(b) for a, b in zip(q[0], centred[:, c], strict=True)) for c in range(64)
    ]
    assert product[:64].astype(np.int64).tolist() == exact
    assert np.abs(q).sum() <= 2.0**53 / 2.0 ** (keyset.prime.bit_length() - 1)


def test_a_block_at_its_encryption_budget_still_scores_within_1e_3(keyset):
    """max_block_encryptions fresh encryptions summed into one block (one-at-a-time
    enrolment) keep every score within 1e-3. The noise does not depend on the
    dimension, so two coordinates show it at a fraction of the cost."""
    dim, n = 2, keyset.params.poly_modulus_degree
    rng = np.random.default_rng(11)
    templates = identities(n, dim, rng)
    values = np.zeros((dim, n))
    values[:, :] = templates.T
    prime = np.uint64(keyset.prime)
    block = keyset.encrypt_coefficients_here(values, 2.0**20)
    for _ in range(keyset.params.max_block_encryptions - 1):
        block = (block + keyset.encrypt_coefficients_here(np.zeros((dim, n)), 2.0**20)) % prime
    gallery = EncryptedGallery(keyset, dim)
    gallery.put_block(0, block)
    probes = identities(16, dim, rng)
    error = np.abs(gallery.score(probes).scores[:, :n] - probes @ templates.T)
    assert error.max() < 1e-3
