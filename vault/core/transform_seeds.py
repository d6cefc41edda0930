"""Transform seeds of the served vault's cancelable and hybrid collections, held wrapped.

Every (collection, key version) has its own 32-byte random seed, envelope-encrypted
like the CKKS key set (fresh AES-256-GCM data key wrapped by the Transit KEK; the
associated data binds collection and version) and stored in the key catalog
(:mod:`vault.keys.catalog`, kind ``transform-seed``, slot = key version) as blob
header + envelope in the store's ``secrets`` table. KEK and
DEK rotation, key status and fsck reach these through the catalog. A seed is unwrapped
only to derive the collection's keyed matrix
(:class:`vault.schemes.seeds.CollectionTransformKeys`); the raw seed is dropped
right after and never returned by any API.
"""

from __future__ import annotations

import os

from vault.errors import AlreadyExists, IntegrityError
from vault.keys.base import KeyService
from vault.keys.catalog import KeyCatalog, SecretKind
from vault.schemes.seeds import SeedSource
from vault.schemes.transform_key import SEED_BYTES
from vault.store.base import TemplateStore

__all__ = ["CatalogSeedSource"]


class CatalogSeedSource(SeedSource):
    """Seeds sealed in the key catalog under fresh DEKs that the key service's KEK wraps."""

    def __init__(self, store: TemplateStore, keys: KeyService) -> None:
        self._catalog = KeyCatalog(store, keys)

    def versions(self, collection: str) -> list[int]:
        # From the catalog's listing, so renewal sees exactly what rotation and status see.
        return sorted(r.slot for r in self._catalog.records(SecretKind.TRANSFORM_SEED, collection))

    def create(self, collection: str, version: int) -> None:
        if self._catalog.record(SecretKind.TRANSFORM_SEED, collection, version) is not None:
            raise AlreadyExists(f"collection '{collection}' has transform seed {version}")
        self._catalog.load_or_create(
            SecretKind.TRANSFORM_SEED, collection, version, make=lambda: os.urandom(SEED_BYTES)
        )

    def discard(self, collection: str) -> None:
        for version in self.versions(collection):
            self._catalog.delete(SecretKind.TRANSFORM_SEED, collection, version)

    def unsafe_open(self, collection: str, version: int) -> bytes:
        record = self._catalog.record(SecretKind.TRANSFORM_SEED, collection, version)
        if record is None:
            raise IntegrityError(
                f"collection '{collection}' has no transform seed for key version {version}"
            )
        if record.header.key_version != version:
            raise IntegrityError("stored transform seed has an unexpected header")
        seed = self._catalog.open(record)
        if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
            raise IntegrityError("stored transform seed has the wrong length")
        return seed
