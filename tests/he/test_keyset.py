"""The CKKS key set: round trips, secret handling, wrong keys and SEAL's security check."""

import pickle

import numpy as np
import pytest

from vault.errors import IntegrityError
from vault.he.keyset import CkksKeySet
from vault.he.params import CkksParams, get_params, probe_bits


def test_encrypt_decrypt_round_trip(keyset):
    """Coefficients survive encryption and SEAL decryption within CKKS noise."""
    x = np.random.default_rng(1).uniform(-1, 1, (2, keyset.params.poly_modulus_degree))
    residues = keyset.encrypt_coefficients(x, 2.0**20)
    assert residues.shape == (2, 2, keyset.params.poly_modulus_degree)
    assert np.abs(keyset.decrypt_coefficients(residues, 2.0**20) - x).max() < 1e-4


def test_serialized_key_set_decrypts_old_ciphertexts(keyset):
    """A key set rebuilt from its serialisation decrypts what the original encrypted."""
    x = np.full((1, keyset.params.poly_modulus_degree), 0.5)
    residues = keyset.encrypt_coefficients(x, 2.0**20)
    clone = CkksKeySet.unsafe_from_serialized(keyset.params, keyset.unsafe_serialize())
    assert np.abs(clone.decrypt_coefficients(residues, 2.0**20) - x).max() < 1e-4


def test_other_key_set_cannot_decrypt(keyset):
    """Another secret key decrypts to noise, not to the message."""
    x = np.full((1, keyset.params.poly_modulus_degree), 0.5)
    residues = keyset.encrypt_coefficients(x, 2.0**20)
    stranger = CkksKeySet.generate(keyset.params)
    assert np.abs(stranger.decrypt_coefficients(residues, 2.0**20) - x).mean() > 1.0


def test_key_set_refuses_pickling_and_hides_secret(keyset):
    """Handles cannot leave the process by pickling, and repr shows no key."""
    with pytest.raises(TypeError):
        pickle.dumps(keyset)
    assert "hidden" in repr(keyset)
    with pytest.raises(TypeError):
        CkksKeySet(object(), keyset.params, None)


def test_garbage_serialization_is_rejected(keyset):
    """Corrupt key material raises IntegrityError instead of a TenSEAL crash."""
    with pytest.raises(IntegrityError):
        CkksKeySet.unsafe_from_serialized(keyset.params, b"not a context")


def test_seal_rejects_insecure_parameters():
    """SEAL's own 128-bit check refuses a modulus too large for N=4096."""
    insecure = CkksParams(99, 4096, (60, 60), 20, 8)
    with pytest.raises(ValueError):
        CkksKeySet.generate(insecure)


def test_default_preset_budget():
    """The default preset keeps d=512 scoring exact with at least 13 probe bits."""
    params = get_params(1)
    assert probe_bits(params, 68719230977, 512) >= 13
    assert sum(params.coeff_mod_bit_sizes) <= 109  # HE standard, N=4096, 128-bit


def test_worker_processes_agree_with_in_process(keyset):
    """Encrypting through forked workers gives ciphertexts that decrypt correctly."""
    x = np.random.default_rng(11).uniform(-1, 1, (40, keyset.params.poly_modulus_degree))
    clone = CkksKeySet.unsafe_from_serialized(keyset.params, keyset.unsafe_serialize())
    clone.start_workers(2)
    try:
        residues = clone.encrypt_coefficients(x, 2.0**20)  # 40 rows: goes to the workers
        assert np.abs(clone.decrypt_coefficients_here(residues, 2.0**20) - x).max() < 1e-4
        assert np.array_equal(
            clone.decrypt_coefficients(residues, 2.0**20),
            clone.decrypt_coefficients_here(residues, 2.0**20),
        )
    finally:
        clone.stop_workers()
