"""An opaque, unpicklable handle around a data-encryption key (DEK).

Only code in ``vault.keys`` creates handles; everyone else can encrypt and decrypt
with associated data but never read the key bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault.errors import IntegrityError

__all__ = ["DataKey"]

_NONCE_SIZE = 12
_CREATION_TOKEN = object()


class DataKey:
    """AES-256-GCM key usable for sealing blobs; the key bytes stay inside."""

    __slots__ = ("__aead", "__mac_key", "key_id")

    def __init__(self, _token: object, material: bytes, key_id: str) -> None:
        if _token is not _CREATION_TOKEN:
            raise TypeError("DataKey handles are made by vault.keys, not constructed directly")
        if len(material) != 32:
            raise ValueError("a data key must be 256 bits")
        self.__aead = AESGCM(material)
        # A separate subkey for MACs, so no key is ever used for two algorithms.
        self.__mac_key = hmac.new(material, b"biovault/mac-subkey/v1", hashlib.sha256).digest()
        self.key_id = key_id

    @classmethod
    def _unsafe_from_material(cls, material: bytes, key_id: str) -> DataKey:
        """Build a handle from raw key bytes; for vault.keys internals only."""
        return cls(_CREATION_TOKEN, material, key_id)

    def encrypt(self, plaintext: bytes, associated_data: bytes, *, prefix: bytes = b"") -> bytes:
        """AEAD-encrypt; returns prefix || nonce || ciphertext || tag.

        ``prefix`` (e.g. a clear blob header) is only prepended, in the same copy
        that joins nonce and ciphertext; authenticate it by putting it in the AAD.
        """
        nonce = os.urandom(_NONCE_SIZE)
        return b"".join((prefix, nonce, self.__aead.encrypt(nonce, plaintext, associated_data)))

    def decrypt(self, sealed: bytes | memoryview, associated_data: bytes) -> bytes:
        """Reverse :meth:`encrypt`; any tampering or wrong AAD raises IntegrityError."""
        if len(sealed) < _NONCE_SIZE + 16:
            raise IntegrityError("sealed data is truncated")
        # A view avoids copying large payloads (a 32 MiB block) just to slice them.
        view = memoryview(sealed)
        try:
            return self.__aead.decrypt(
                bytes(view[:_NONCE_SIZE]), view[_NONCE_SIZE:], associated_data
            )
        except InvalidTag as e:
            raise IntegrityError(
                "sealed data failed authentication (wrong key, AAD or tampered)"
            ) from e

    def mac(self, message: bytes) -> bytes:
        """HMAC-SHA256 of ``message`` under a subkey (e.g. to pseudonymise subject ids)."""
        return hmac.new(self.__mac_key, message, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return f"DataKey(key_id={self.key_id!r}, material=<hidden>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("DataKey handles cannot be pickled")

    def __copy__(self) -> DataKey:
        raise TypeError("DataKey handles cannot be copied")

    def __deepcopy__(self, memo: object) -> DataKey:
        raise TypeError("DataKey handles cannot be copied")
