"""Interfaces for key material that lives in a key-management service.

The vault never holds a key-encryption key (KEK): it lives in HashiCorp Vault /
OpenBao Transit and only wraps and unwraps data-encryption keys (DEKs). A DEK
travels between layers only inside a :class:`vault.keys.datakey.DataKey` handle,
which cannot be pickled, printed or compared.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from vault.errors import KeyServiceError, WrappedKeyRejected
from vault.keys.datakey import DataKey

__all__ = ["KekInfo", "KeyService", "WrappedDataKey"]


@dataclass(frozen=True)
class WrappedDataKey:
    """A fresh DEK: the usable handle plus the wrapped form that may be stored."""

    key: DataKey
    wrapped: str  # Transit ciphertext, e.g. "vault:v3:..." - safe to store


@dataclass(frozen=True)
class KekInfo:
    """Public facts about the KEK (no key material).

    ``min_decryption_version``: older versions no longer unwrap anything;
    ``min_available_version``: older versions were deleted for good (trimmed).
    """

    name: str
    latest_version: int
    min_decryption_version: int
    min_available_version: int


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

    def rewrap_data_keys(self, wrapped: Sequence[str]) -> list[str | None]:
        """Rewrap many wrapped DEKs under the latest KEK version in as few calls as possible.

        Returns one entry per input, in order: the rewrapped form, or None where the
        key service rejected that one item (it stays as it was).
        """
        results: list[str | None] = []
        for item in wrapped:
            try:
                results.append(self.rewrap_data_key(item))
            except WrappedKeyRejected:
                results.append(None)
        return results

    def kek_info(self) -> KekInfo:
        """Versions of the KEK.

        Optional capability: services that cannot describe their KEK raise
        KeyServiceError.
        """
        raise KeyServiceError(f"{type(self).__name__} cannot describe its KEK")

    def retire_kek_versions(self, below: int) -> None:
        """Refuse to unwrap anything wrapped under a KEK version older than ``below``.

        Reversible (the versions still exist) until :meth:`trim_kek_versions`.
        Optional capability: services that cannot do this raise KeyServiceError.
        """
        raise KeyServiceError(f"{type(self).__name__} cannot retire KEK versions")

    def trim_kek_versions(self, below: int) -> None:
        """Delete KEK versions older than ``below`` for good (irreversible).

        Optional capability: services that cannot do this raise KeyServiceError.
        """
        raise KeyServiceError(f"{type(self).__name__} cannot trim KEK versions")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
