"""Interfaces for key material that lives in a key-management service.

The vault never holds a key-encryption key (KEK): it lives in HashiCorp Vault /
OpenBao Transit and only wraps and unwraps data-encryption keys (DEKs). A DEK
travels between layers only inside a :class:`vault.keys.datakey.DataKey` handle,
which cannot be pickled, printed or compared.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from vault.errors import KeyServiceError
from vault.keys.datakey import DataKey

__all__ = ["KeyService", "WrappedDataKey"]


@dataclass(frozen=True)
class WrappedDataKey:
    """A fresh DEK: the usable handle plus the wrapped form that may be stored."""

    key: DataKey
    wrapped: str  # Transit ciphertext, e.g. "vault:v3:..." - safe to store


class KeyService(ABC):
    """A KEK held by a key-management service (never exported)."""

    @abstractmethod
    def generate_data_key(self) -> WrappedDataKey:
        """Create a new 256-bit DEK, returned as handle and wrapped form."""

    @abstractmethod
    def unwrap_data_key(self, wrapped: str) -> DataKey:
        """Turn a stored wrapped DEK back into a handle (needs the KMS)."""

    @abstractmethod
    def kek_version(self) -> int:
        """Latest version of the KEK."""

    @abstractmethod
    def is_available(self) -> bool:
        """True if the KMS is reachable, unsealed and answering."""

    def rotate_kek(self) -> int:
        """Create a new KEK version for future wraps and return its number.

        Optional capability: services that cannot rotate raise KeyServiceError.
        """
        raise KeyServiceError(f"{type(self).__name__} cannot rotate its KEK")

    def rewrap_data_key(self, wrapped: str) -> str:
        """Re-encrypt a wrapped DEK under the latest KEK version, never exposing it.

        Optional capability: services that cannot rewrap raise KeyServiceError.
        """
        raise KeyServiceError(f"{type(self).__name__} cannot rewrap data keys")

    def wrapped_key_version(self, wrapped: str) -> int:
        """KEK version a stored wrapped DEK was produced under (read locally).

        Optional capability: services whose wrapped form names no version raise
        KeyServiceError.
        """
        raise KeyServiceError(f"{type(self).__name__} cannot read wrapped-key versions")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
