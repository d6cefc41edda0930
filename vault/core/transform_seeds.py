"""Transform seeds of cancelable and hybrid collections, held wrapped through Vault.

Every (collection, key version) has its own 32-byte random seed, envelope-encrypted
like the CKKS key set (fresh AES-256-GCM data key wrapped by the Transit KEK; the
associated data binds collection and version) and stored in the key catalog
(:mod:`vault.keys.catalog`, kind ``transform-seed``) as
``cancelable.seed/<collection>/<version:08d>`` = blob header + envelope. KEK and
DEK rotation, key status and fsck reach these through the catalog. A seed is unwrapped
only to derive the collection's keyed matrix (:class:`KeyedRotation`); the raw seed
is dropped right after and never returned by any API.

The current key version of a collection is its highest stored seed version, so
renewal is a single insert that either happens or does not.
"""

from __future__ import annotations

import logging
import os
import threading

from vault.errors import AlreadyExists, IntegrityError
from vault.keys.base import KeyService
from vault.keys.catalog import KeyCatalog, SecretKind
from vault.schemes.transform_key import SEED_BYTES, KeyedRotation
from vault.store.base import TemplateStore

__all__ = [
    "CollectionTransformKeys",
    "EphemeralSeedSource",
    "SeedSource",
    "VaultSeedSource",
]

log = logging.getLogger(__name__)


class SeedSource:
    """Where transform seeds come from; subclasses keep them wrapped or in memory."""

    def versions(self, collection: str) -> list[int]:
        """Stored seed versions of a collection, ascending."""
        raise NotImplementedError

    def create(self, collection: str, version: int) -> None:
        """Make and keep a fresh seed (AlreadyExists if that version exists)."""
        raise NotImplementedError

    def unsafe_open(self, collection: str, version: int) -> bytes:
        """The raw seed; the caller derives its key and drops the bytes at once."""
        raise NotImplementedError

    def discard(self, collection: str) -> None:
        """Forget every seed of a collection that was never created (undo of ``create``)."""
        raise NotImplementedError


class VaultSeedSource(SeedSource):
    """Seeds sealed under fresh DEKs that the key service's Transit KEK wraps."""

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


class EphemeralSeedSource(SeedSource):
    """Seeds in process memory only, for in-process tools (evaluation, benchmarks)
    that hold no key service. Nothing survives the process: never use it to serve."""

    def __init__(self) -> None:
        self._seeds: dict[tuple[str, int], bytes] = {}

    def versions(self, collection: str) -> list[int]:
        return sorted(v for c, v in self._seeds if c == collection)

    def create(self, collection: str, version: int) -> None:
        self._seeds.setdefault((collection, version), os.urandom(SEED_BYTES))

    def discard(self, collection: str) -> None:
        for version in self.versions(collection):
            del self._seeds[(collection, version)]

    def unsafe_open(self, collection: str, version: int) -> bytes:
        try:
            return self._seeds[(collection, version)]
        except KeyError:
            raise IntegrityError(
                f"collection '{collection}' has no transform seed for key version {version}"
            ) from None


class CollectionTransformKeys:
    """The keyed matrices of one collection, derived on first use and kept in memory.

    Implements :class:`vault.schemes.cancelable.TransformKeys`.
    """

    def __init__(
        self, source: SeedSource, collection: str, *, purpose: str, dim: int, out_dim: int
    ) -> None:
        self._source = source
        self._collection = collection
        self._purpose = purpose
        self._dim, self._out_dim = dim, out_dim
        self._lock = threading.Lock()
        self._derived: dict[int, KeyedRotation] = {}
        versions = source.versions(collection)
        self._current = versions[-1] if versions else 0

    def ensure_first(self) -> None:
        """Create version 1 for a new collection (no-op if it has a seed)."""
        with self._lock:
            if self._current == 0:
                self._source.create(self._collection, 1)
                self._current = 1

    def current_version(self) -> int:
        if self._current == 0:
            raise IntegrityError(f"collection '{self._collection}' has no transform seed")
        return self._current

    def rotation(self, version: int) -> KeyedRotation:
        with self._lock:
            derived = self._derived.get(version)
            if derived is None:
                if not 1 <= version <= self._current:
                    raise IntegrityError(f"unknown transform key version {version}")
                derived = KeyedRotation.unsafe_derive(
                    self._source.unsafe_open(self._collection, version),
                    purpose=self._purpose,
                    collection=self._collection,
                    version=version,
                    dim=self._dim,
                    out_dim=self._out_dim,
                )
                self._derived[version] = derived
            return derived

    def rotate(self) -> int:
        """Start a new key version; new enrolments use it from now on."""
        with self._lock:
            version = self._current + 1
            self._source.create(self._collection, version)
            self._current = version
        self.rotation(version)
        log.info("collection %s: transform key version %d", self._collection, version)
        return version
