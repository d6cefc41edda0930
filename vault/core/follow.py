"""Following a store that other front-ends write too (several ``serve`` on one store).

Each front-end keeps a collection's slot map and block bookkeeping in memory. When
another front-end may write the same store (PostgreSQL, ``--ray-address``), two
things keep them right:

* **Writers take turns.** Every enrolment and erasure plans and commits holding the
  store's per-collection lock (:meth:`TemplateStore.collection_lock`) and, under it,
  first catches up with what the others committed - so a block is never planned
  from a stale copy and two front-ends never overwrite each other's slots.
* **Readers see the others' writes.** Before each Identify/Verify the collection's
  change counter (:meth:`TemplateStore.collection_generation`, one indexed read) is
  compared with the one this front-end last loaded; if it moved, the collection is
  reloaded from the store, and the blocks whose bookkeeping changed are announced
  to the shards, which reload them from the store (a front-end killed between its
  commit and its announcement leaves nothing stale behind).

A reload re-reads the collection's subject rows and block rows (the sharded engine
decodes no residues in the front-end); it is swapped in under the collection's
writer and state locks, so a call sees the old state or the new one, never a mix.
Without a shared store (SQLite, or a single front-end) none of this runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from vault.store.base import BlockRecord, TemplateStore

if TYPE_CHECKING:  # pragma: no cover
    from vault.core.vault import VaultCore

__all__ = ["StoreFollower"]

log = logging.getLogger(__name__)

#: (next_slot, live, encryptions) of each block, as this front-end last loaded it.
_Bookkeeping = dict[int, tuple[int, int, int]]


class StoreFollower:
    """Keeps one core's collections current with a store other processes write."""

    def __init__(self, core: VaultCore, store: TemplateStore, *, enabled: bool) -> None:
        self._core = core
        self._store = store
        self.enabled = enabled
        self._seen: dict[str, int | None] = {}
        self._blocks: dict[str, _Bookkeeping] = {}
        self._lock = threading.Lock()
        #: Catch-ups because another front-end changed a collection, and how many of
        #: them re-read the whole collection (observable).
        self.reloads = 0
        self.whole_reloads = 0

    # --- loading ----------------------------------------------------------------
    def generation(self, name: str) -> int | None:
        """The counter to remember for a load about to start (read *before* the rows,
        so a change committed while loading is seen at the next check)."""
        return self._store.collection_generation(name) if self.enabled else None

    def blocks(self, name: str, generation: int | None) -> Iterator[BlockRecord]:
        """The collection's stored blocks, streamed, noting their bookkeeping as loaded
        at ``generation``."""
        seen: _Bookkeeping = {}
        for block in self._store.iter_blocks(name):
            seen[block.block_no] = (block.next_slot, block.live, block.encryptions)
            yield block
        with self._lock:
            self._blocks[name] = seen
            self._seen[name] = generation

    # --- catching up --------------------------------------------------------------
    def catch_up(self, name: str) -> None:
        """Before a read: reload ``name`` if another front-end changed it."""
        if not self.enabled or not self._stale(name):
            return
        _, locks = self._core._collection(name)
        with locks.writer:
            if self._stale(name):
                self._reload(name)

    @contextmanager
    def writing(self, name: str) -> Iterator[None]:
        """Around planning and committing a change of ``name`` (the caller holds the
        collection's writer lock): the store's collection lock, and the collection
        caught up under it. Re-fetch the collection inside: it may have been replaced."""
        if not self.enabled:
            yield
            return
        with self._store.collection_lock(name):
            if self._stale(name):
                self._reload(name)
            if self._core._data_keys is not None:  # a DEK rotation run by another front-end
                self._core._data_keys.follow_store(name)
            yield
            # Nobody else writes this collection while the lock is held: the counter
            # now says exactly this front-end's commit (or nothing, if it failed).
            self._note_own_commit(name)

    def committing(
        self, name: str, commit: Callable[..., None]
    ) -> Callable[[list[str], np.ndarray, list[tuple[Any, list[str]]]], None]:
        """``commit(name, ids, units, requests)`` of an enrolment group, run
        :meth:`writing` ``name`` (the enrolment queue holds the writer lock)."""

        def run(ids: list[str], units: np.ndarray, requests: list[tuple[Any, list[str]]]) -> None:
            with self.writing(name):
                commit(name, ids, units, requests)

        return run

    def discover(self, name: str) -> bool:
        """A collection another front-end created: load it. False if there is none."""
        if not self.enabled:
            return False
        record = self._store.get_collection(name)
        if record is None:
            return False
        with self._core._registry_lock:
            if name not in self._core._collections:
                self._core._open(record)
        return True

    # --- internals --------------------------------------------------------------
    def _stale(self, name: str) -> bool:
        current = self._store.collection_generation(name)
        with self._lock:
            return current is not None and current != self._seen.get(name)

    def _note_own_commit(self, name: str) -> None:
        current = self._store.collection_generation(name)
        with self._lock:
            if current is not None and self._seen.get(name) is not None:
                self._seen[name] = current

    def _reload(self, name: str) -> None:
        """Catch ``name`` up with the store (writer lock held): only the changed blocks
        when the collection can (ckks, same settings), else a whole reload."""
        record = self._store.get_collection(name)
        if record is None:
            return
        current, locks = self._core._collection(name)
        if record == current.record and hasattr(current, "follow_blocks"):
            self._follow_blocks(name, current, locks)
            return
        self._reload_whole(name, record)

    def _follow_blocks(self, name: str, collection: Any, locks: Any) -> None:
        """Re-read only the blocks whose bookkeeping changed, and their subjects."""
        generation = self._store.collection_generation(name)  # before the rows
        after = self._store.block_bookkeeping(name)
        with self._lock:
            before = self._blocks.get(name, {})
        changed = sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n))
        rows = {n: self._store.get_block(name, n) if n in after else None for n in changed}
        subjects = self._store.subjects_in_blocks(name, changed)
        with locks.state:
            added = collection.follow_blocks(rows, subjects)
        locks.decoys.add(added)
        with self._lock:
            self._blocks[name] = {
                n: (b.next_slot, b.live, b.encryptions) if (b := rows.get(n)) else after[n]
                for n in after
            }
            self._seen[name] = generation
        self.reloads += 1
        log.info("collection %s changed in the store: %d block(s) followed", name, len(changed))

    def _reload_whole(self, name: str, record: Any) -> None:
        """Reload ``name`` entirely and tell the shards which blocks changed."""
        self.whole_reloads += 1
        with self._lock:
            before = dict(self._blocks.get(name, {}))
        self._core._open(record, replace=True)
        with self._lock:
            after = self._blocks.get(name, {})
        changed = sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n))
        self.reloads += 1
        log.info("collection %s changed in the store: reloaded (%d blocks)", name, len(changed))
        collection, _ = self._core._collection(name)
        follow = getattr(_engine(collection), "follow_store", None)
        if follow is None or not changed:
            return
        live: dict[int, list[int]] = {}
        for subject in self._store.list_subjects(name):
            if subject.block_no in after:
                live.setdefault(subject.block_no, []).append(subject.slot)
        for block_no in changed:
            follow(block_no, sorted(live.get(block_no, [])) if block_no in after else None)


def _engine(collection: Any) -> Any:
    """The gallery engine of a ckks collection, or of a hybrid one's ckks part."""
    gallery = getattr(collection, "gallery", None)
    if gallery is None:
        gallery = getattr(getattr(collection, "inner", None), "gallery", None)
    return gallery
