"""Where a keyed collection's transform keys come from: seed sources and the derived
matrices of each key version.

A :class:`SeedSource` keeps one 32-byte seed per (collection, key version);
:class:`CollectionTransformKeys` derives each version's keyed matrix
(:class:`~vault.schemes.transform_key.KeyedMatrix`) from it on first use and drops
the raw seed at once. The served vault's source keeps seeds wrapped in the key
catalog (vault.core.transform_seeds.CatalogSeedSource); in-process tools
(evaluation, benchmarks) use :class:`EphemeralSeedSource`, so they build keyed
collections from this layer alone.

The current key version of a collection is its highest stored seed version, so
renewal is a single insert that either happens or does not.
"""

from __future__ import annotations

import logging
import os
import threading

from vault.errors import IntegrityError
from vault.schemes.transform_key import SEED_BYTES, KeyedMatrix

__all__ = ["CollectionTransformKeys", "EphemeralSeedSource", "SeedSource"]

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

    Implements :class:`vault.schemes.base.TransformKeys`.
    """

    def __init__(
        self, source: SeedSource, collection: str, *, purpose: str, dim: int, out_dim: int
    ) -> None:
        self._source = source
        self._collection = collection
        self._purpose = purpose
        self._dim, self._out_dim = dim, out_dim
        self._lock = threading.Lock()
        self._derived: dict[int, KeyedMatrix] = {}
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

    def matrix(self, version: int) -> KeyedMatrix:
        with self._lock:
            derived = self._derived.get(version)
            if derived is None:
                if not 1 <= version <= self._current:
                    raise IntegrityError(f"unknown transform key version {version}")
                derived = KeyedMatrix.unsafe_derive(
                    self._source.unsafe_open(self._collection, version),
                    purpose=self._purpose,
                    collection=self._collection,
                    version=version,
                    dim=self._dim,
                    out_dim=self._out_dim,
                )
                self._derived[version] = derived
            return derived

    def renew(self) -> int:
        """Start a new key version (renewal); new enrolments use it from now on."""
        with self._lock:
            version = self._current + 1
            self._source.create(self._collection, version)
            self._current = version
        self.matrix(version)
        log.info("collection %s: transform key version %d", self._collection, version)
        return version
