"""Per-collection data keys: wrapped by the Transit KEK at rest, unwrapped once at start.

Why one DEK per collection (and not one per block, nor one for everything):

* **Vault traffic is independent of enrolment volume.** A collection's DEK is
  unwrapped once when the service starts; enrolling, erasing and scoring use the
  key in memory, so they keep working while Vault is briefly unreachable, and a
  32 MiB block costs one local AES-GCM pass (~40 ms) instead of a Transit round trip.
* **KEK rotation is cheap and touches no block.** It rewraps one small wrapped
  key per collection (plus the key set's and the pseudonym key's), never the
  gigabytes of ciphertext blocks.
* **Blast radius and crypto-shredding stay per collection.** A DEK rotation
  re-encrypts one collection's blocks; nonce use per key stays far below the
  2^32 random-nonce bound of AES-GCM (one encryption per block write).

Stored in the key catalog (:mod:`vault.keys.catalog`, kind ``data-key``) as
metadata ``dek/<collection>/<version>`` = blob header + the Transit ciphertext. The
current DEK is the highest version; older ones are kept only while a DEK
rotation still has blocks sealed under them.
"""

from __future__ import annotations

import logging
import threading

from vault.blob import KEY_VERSION_OFFSET
from vault.errors import IntegrityError
from vault.keys.base import KeyService
from vault.keys.catalog import KeyCatalog, SecretKind, key_data
from vault.keys.datakey import DataKey
from vault.keys.dataring import DataKeyRing
from vault.keys.sealing import BlobSealer
from vault.store.base import TemplateStore

__all__ = [
    "CollectionDataKeys",
    "key_data",
]

log = logging.getLogger(__name__)


class CollectionDataKeys:
    """Loads, creates, adds and retires the DEKs of every collection.

    Args:
        store: Where wrapped DEKs live (must also be a :class:`KeyDataStore`).
        keys: The key service whose KEK wraps them.

    Attributes:
        lock: Held while a DEK is generated and stored, and by KEK rotation while it
            checks that nothing is left under old KEK versions - so no DEK wrapped
            under an old version can be stored after that check.
    """

    def __init__(self, store: TemplateStore, keys: KeyService) -> None:
        self._store = store
        self._meta = key_data(store)
        self._keys = keys
        self._catalog = KeyCatalog(store, keys)
        self._rings: dict[str, DataKeyRing] = {}
        self.lock = threading.RLock()

    def sealer(self, collection: str) -> BlobSealer:
        """The sealer of ``collection``: its DEKs unwrapped (the first one created if none).

        Raises:
            ConfigurationError: A stored DEK cannot be unwrapped by this key service.
            IntegrityError: The collection has blocks but no stored DEK.
            KeyServiceUnavailable: The key service cannot be reached.
        """
        with self.lock:
            ring = self._rings.get(collection) or self._load(collection)
            if not ring.versions():
                if self._meta.block_headers(collection, 0):
                    # Never invent a key for blocks that exist: they could not open
                    # under it, and a refused start must not write anything.
                    raise IntegrityError(
                        f"collection '{collection}' has stored blocks but no data key "
                        "(written by a build without envelope encryption, or its key was "
                        "deleted); nothing was changed"
                    )
                self._add(ring, 1)
            self._rings[collection] = ring
            return BlobSealer(ring)

    def ring(self, collection: str) -> DataKeyRing:
        """The loaded ring of ``collection`` (loading it if needed)."""
        return self.sealer(collection).ring

    def wrapped_versions(self, collection: str) -> dict[int, str]:
        """Stored wrapped DEKs of ``collection`` by DEK version."""
        return {r.slot: r.wrapped for r in self._catalog.records(SecretKind.DATA_KEY, collection)}

    def add_version(self, collection: str) -> int:
        """Create, store and load a new current DEK for ``collection``; return its version."""
        with self.lock:
            ring = self.ring(collection)
            version = ring.current_version + 1
            self._add(ring, version)
            return version

    def retire(self, collection: str, version: int) -> bool:
        """Delete a DEK version if no block names it any more (atomic check).

        Returns:
            True if retired; False if a block still uses it.
        """
        # Under the collection's store lock too: a front-end sharing the store writes
        # blocks only under it, so none can seal under this version after the check.
        # Taken before ``lock``, the order of a write (store lock, then follow_store).
        with self._store.collection_lock(collection), self.lock:
            ring = self.ring(collection)
            if version == ring.current_version:
                return False
            retired = self._meta.delete_secret_if_no_block_uses(
                SecretKind.DATA_KEY.value, collection, version, version, KEY_VERSION_OFFSET
            )
            if retired:
                ring.discard(version)
                log.info("retired data key version %d of collection %s", version, collection)
            return retired

    def follow_store(self, collection: str) -> None:
        """Match the loaded ring of ``collection`` to the stored DEK versions, which
        another front-end's rotation may have added or retired (called under the
        collection's store lock, before sealing a block: never under a retired key)."""
        with self.lock:
            ring = self._rings.get(collection)
            if ring is None:
                return
            records = self._catalog.records(SecretKind.DATA_KEY, collection)
            loaded = set(ring.versions())
            for record in sorted(records, key=lambda r: r.slot):
                if record.slot not in loaded:
                    key = self._catalog.open(record)
                    assert isinstance(key, DataKey)
                    ring.add(record.slot, key)
                    log.info("loaded data key version %d of %s", record.slot, collection)
            stored = {r.slot for r in records}
            for version in loaded - stored - {ring.current_version}:
                ring.discard(version)

    def discard(self, collection: str) -> None:
        """Delete the DEKs of a collection that was never created (undo of ``sealer``).

        Raises:
            IntegrityError: Blocks of that collection exist (their key is never deleted).
        """
        with self.lock:
            if self._meta.block_headers(collection, 0):
                raise IntegrityError(f"collection '{collection}' has blocks; its key stays")
            for version in self.wrapped_versions(collection):
                self._catalog.delete(SecretKind.DATA_KEY, collection, version)
            self._rings.pop(collection, None)

    def _load(self, collection: str) -> DataKeyRing:
        ring = DataKeyRing(collection)
        for record in sorted(
            self._catalog.records(SecretKind.DATA_KEY, collection), key=lambda r: r.slot
        ):
            key = self._catalog.open(record)
            assert isinstance(key, DataKey)
            ring.add(record.slot, key)
        if ring.versions():
            log.info("unwrapped %d data key(s) of collection %s", len(ring.versions()), collection)
        return ring

    def _add(self, ring: DataKeyRing, version: int) -> None:
        key, existed = self._catalog.load_or_create(SecretKind.DATA_KEY, ring.scope, version)
        if existed:
            raise IntegrityError(f"data key version {version} of '{ring.scope}' already exists")
        assert isinstance(key, DataKey)
        ring.add(version, key)
        log.info("created data key version %d of collection %s", version, ring.scope)
