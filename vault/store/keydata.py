"""What key rotation needs from a store, beyond :class:`~vault.store.base.TemplateStore`.

Rotation runs while the service keeps enrolling and erasing, so every change it
makes is a compare-and-swap: it replaces a block only if the stored value is
still the one it read (wrapped secrets: ``TemplateStore.replace_secret``), and
retires a data key only if, in the same transaction, no block still names its
version. Readers of block headers get the 16 clear header bytes without loading
the (possibly 32 MiB) blob.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

__all__ = ["KeyDataStore"]


class KeyDataStore(ABC):
    """Compare-and-swap access to metadata and blocks for key rotation."""

    @abstractmethod
    def list_meta_keys(self, prefix: str = "") -> list[str]:
        """Metadata keys starting with ``prefix``, sorted."""

    @abstractmethod
    def replace_meta(self, key: str, expected: bytes, new: bytes) -> bool:
        """Set ``key`` to ``new`` if it currently holds ``expected``; True if replaced."""

    @abstractmethod
    def delete_meta(self, key: str) -> None:
        """Remove a metadata value (no error if absent)."""

    @abstractmethod
    def block_headers(self, collection: str, size: int) -> list[tuple[int, bytes]]:
        """``(block_no, first size bytes of the blob)`` of every block, in order."""

    @abstractmethod
    def replace_block_blob(
        self, collection: str, block_no: int, expected: bytes, new: bytes
    ) -> bool:
        """Swap one block's blob if it is still ``expected`` (bookkeeping unchanged).

        Returns:
            True if replaced; False if the block changed or vanished meanwhile.
        """

    @abstractmethod
    def delete_secret_if_no_block_uses(
        self, kind: str, owner: str, slot: int, key_version: int, header_offset: int
    ) -> bool:
        """Atomically delete the secret unless a block of collection ``owner`` still
        has ``key_version`` as the little-endian u32 at ``header_offset`` of its blob.

        Returns:
            True if deleted (or already absent); False if a block still uses it.
        """
