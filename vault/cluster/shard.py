"""One gallery shard: its share of every collection's blocks, scored in its own process.

Shard ``i`` of ``n`` owns the blocks whose number is ``i`` modulo ``n``: a gallery
grows by appending blocks, so round-robin keeps the shards even without ever
moving a block, and any process can tell who owns a block from its number alone.
Inside the shard its blocks sit next to each other in its own
:class:`~vault.he.gallery.EncryptedGallery` (one matrix product per chunk).

The shard opens its source itself (vault.service.shard_source: store read-only,
key service login from a credential *file*, key set unwrapped here), so no key
crosses Ray. It decrypts only its own score vectors and returns only its top-k
as (block, slot, score): subject ids never reach it. Every change is announced
by block number after the store committed it, and the shard reloads that block
from the store, so a restarted shard (Ray re-runs ``__init__``) and a live one
converge on the same state: the store's.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from vault.errors import NotFound
from vault.he.gallery import BlockResidues, EncryptedGallery, GalleryScores

__all__ = ["GalleryShard", "ShardSourceLike", "ShardSpecLike", "owner_of"]

log = logging.getLogger(__name__)


def owner_of(block_no: int, shards: int) -> int:
    """The shard that holds ``block_no``."""
    return block_no % shards


class ShardSourceLike(Protocol):
    """What a shard reads (vault.service.shard_source.ShardSource provides it)."""

    keyset: Any

    def collections(self) -> dict[str, int]: ...

    def live_slots(self, collection: str) -> dict[int, list[int]]: ...

    def blocks(self, collection: str, dim: int, owned: Any) -> Any: ...

    def block(self, collection: str, dim: int, block_no: int) -> BlockResidues | None: ...

    def close(self) -> None: ...


class ShardSpecLike(Protocol):
    """A picklable, secret-free description of the source (ShardSourceSpec)."""

    def open(self) -> ShardSourceLike: ...


class GalleryShard:
    """The actor's body (vault.cluster.engine makes it a Ray actor)."""

    def __init__(self, spec: ShardSpecLike, shard: int, shards: int) -> None:
        started = time.monotonic()
        self.shard, self.shards = shard, shards
        self._source = spec.open()
        self._galleries: dict[str, EncryptedGallery] = {}
        # Scoring reads while a refresh writes: one lock per shard keeps them apart.
        self._lock = threading.Lock()
        for name, dim in self._source.collections().items():
            self._load(name, dim)
        self.started_at = time.time()
        self.load_seconds = time.monotonic() - started
        log.info(
            "shard %d/%d loaded %d templates in %.2f s",
            shard,
            shards,
            self._templates(),
            self.load_seconds,
        )

    # --- loading ----------------------------------------------------------------
    def _owned(self, block_no: int) -> bool:
        return owner_of(block_no, self.shards) == self.shard

    def _gallery(self, collection: str, dim: int) -> EncryptedGallery:
        gallery = self._galleries.get(collection)
        if gallery is None:
            gallery = self._galleries[collection] = EncryptedGallery(self._source.keyset, dim)
        return gallery

    def _load(self, collection: str, dim: int) -> None:
        gallery = self._gallery(collection, dim)
        live = self._source.live_slots(collection)
        for block_no, residues in self._source.blocks(collection, dim, self._owned):
            gallery.load(block_no, residues, live.get(block_no, []))

    def _templates(self) -> int:
        return sum(g.live_count for g in self._galleries.values())

    def _require(self, collection: str) -> EncryptedGallery:
        gallery = self._galleries.get(collection)
        if gallery is None:
            raise NotFound(f"shard {self.shard} holds no collection '{collection}'")
        return gallery

    # --- changes (after the store committed them) -------------------------------
    def refresh(self, collection: str, dim: int, block_no: int, live: Sequence[int]) -> int:
        """Reload one block from the store with its live slots; return this shard's templates."""
        residues = self._source.block(collection, dim, block_no)
        with self._lock:
            gallery = self._gallery(collection, dim)
            if residues is None:
                if block_no in gallery.block_nos:
                    gallery.drop_block(block_no)
            else:
                gallery.put_live(block_no, residues, live)
            return self._templates()

    def drop(self, collection: str, block_no: int) -> int:
        """Forget a dropped block; return this shard's templates."""
        with self._lock:
            gallery = self._galleries.get(collection)
            if gallery is not None and block_no in gallery.block_nos:
                gallery.drop_block(block_no)
            return self._templates()

    # --- queries ------------------------------------------------------------------
    def block(self, collection: str, block_no: int) -> BlockResidues:
        """A block's residues (ciphertexts only) for the front-end to plan a change."""
        with self._lock:
            return self._require(collection).block(block_no)

    def top_slots(
        self, collection: str, probes: np.ndarray, k: int
    ) -> list[list[tuple[int, int, float]]]:
        """This shard's best ``k`` live slots per probe (empty if it has no such collection)."""
        with self._lock:
            gallery = self._galleries.get(collection)
            if gallery is None or not gallery.block_nos:
                return [[] for _ in range(len(probes))]
            return gallery.top_slots(probes, k)

    def score_all(self, collection: str, probes: np.ndarray) -> GalleryScores:
        """Every slot's decrypted score (a hybrid collection under several key versions)."""
        with self._lock:
            gallery = self._galleries.get(collection)
            if gallery is None or not gallery.block_nos:
                return GalleryScores((), np.empty((len(probes), 0)))
            return gallery.score(probes)

    def score_slot(self, collection: str, probe: np.ndarray, block_no: int, slot: int) -> float:
        """One slot's decrypted score."""
        with self._lock:
            return self._require(collection).score_slot(probe, block_no, slot)

    def status(self) -> dict[str, Any]:
        """Where this shard runs and what it holds (no lock: counts may be a call old)."""
        import ray

        return {
            "shard": self.shard,
            "node": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "templates": self._templates(),
            "load_seconds": self.load_seconds,
            "started_at": self.started_at,
            "rss_bytes": _rss_bytes(),
        }


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0
