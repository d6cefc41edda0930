"""DataKey: the opaque AES-256-GCM handle around a data-encryption key."""

from __future__ import annotations

import copy
import os
import pickle

import pytest

from vault.errors import IntegrityError
from vault.keys.datakey import DataKey


def _key(key_id: str = "test:v1") -> DataKey:
    return DataKey._unsafe_from_material(os.urandom(32), key_id)


def test_round_trip() -> None:
    """Encrypting then decrypting with the same AAD returns the plaintext."""
    key = _key()
    sealed = key.encrypt(b"secret key bytes", b"ctx")
    assert key.decrypt(sealed, b"ctx") == b"secret key bytes"


def test_nonces_differ() -> None:
    """Two encryptions of the same plaintext never produce the same bytes."""
    key = _key()
    assert key.encrypt(b"x", b"") != key.encrypt(b"x", b"")


def test_wrong_aad_is_rejected() -> None:
    """Decrypting with different associated data raises IntegrityError."""
    key = _key()
    sealed = key.encrypt(b"payload", b"collection=a")
    with pytest.raises(IntegrityError):
        key.decrypt(sealed, b"collection=b")


def test_wrong_key_is_rejected() -> None:
    """A different key cannot open the sealed data."""
    sealed = _key().encrypt(b"payload", b"")
    with pytest.raises(IntegrityError):
        _key().decrypt(sealed, b"")


@pytest.mark.parametrize("position", [0, 11, 12, -17, -1])
def test_tampering_is_rejected(position: int) -> None:
    """Flipping one bit in nonce, ciphertext or tag raises IntegrityError."""
    key = _key()
    sealed = bytearray(key.encrypt(b"payload!", b"ctx"))
    sealed[position] ^= 0x01
    with pytest.raises(IntegrityError):
        key.decrypt(bytes(sealed), b"ctx")


def test_truncated_is_rejected() -> None:
    """Data shorter than nonce plus tag raises IntegrityError, not a crypto error."""
    with pytest.raises(IntegrityError):
        _key().decrypt(b"short", b"")


def test_cannot_be_pickled_or_copied() -> None:
    """Pickling, copying and deep-copying a handle all fail."""
    key = _key()
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(TypeError):
        copy.copy(key)
    with pytest.raises(TypeError):
        copy.deepcopy(key)


def test_cannot_be_constructed_directly() -> None:
    """Only vault.keys internals can create handles."""
    with pytest.raises(TypeError):
        DataKey(object(), os.urandom(32), "x")


def test_wrong_length_material_is_refused() -> None:
    """Key material that is not 256 bits is refused."""
    with pytest.raises(ValueError):
        DataKey._unsafe_from_material(os.urandom(16), "x")


def test_repr_hides_material() -> None:
    """repr shows the key id but none of the key bytes."""
    material = os.urandom(32)
    key = DataKey._unsafe_from_material(material, "transit/kek:v1")
    text = repr(key) + str(key)
    assert "transit/kek:v1" in text
    assert "hidden" in text
    assert material.hex() not in text
    assert repr(material) not in text
