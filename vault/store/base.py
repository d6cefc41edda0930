"""The TemplateStore interface: durable, transactional storage of opaque blobs.

The store never sees a template: it keeps collection settings, the mapping from
subject ids to (block, slot), and protected blocks whose bytes it cannot read.
Every method that changes more than one row is atomic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from vault.errors import NotFound

__all__ = ["BlockRecord", "CollectionRecord", "SecretRow", "SubjectRecord", "TemplateStore"]


@dataclass(frozen=True)
class CollectionRecord:
    """Settings of a collection as stored."""

    name: str
    mode: str
    dim: int
    params_id: int
    allow_identification: bool
    purposes: tuple[str, ...]
    match_threshold: float
    created_at: float
    key_version: int = 1
    config_json: str = "{}"


@dataclass(frozen=True)
class BlockRecord:
    """One protected block: a header-prefixed blob plus bookkeeping.

    ``next_slot`` is the first never-used slot (slots are allocated append-only;
    erased slots are burned, never reused); ``live`` counts enrolled subjects;
    ``encryptions`` counts fresh encryptions summed into the block (noise budget).
    """

    collection: str
    block_no: int
    blob: bytes
    next_slot: int
    live: int
    encryptions: int


@dataclass(frozen=True)
class SubjectRecord:
    """Where a subject's protected template lives."""

    collection: str
    subject_id: str
    block_no: int
    slot: int
    key_version: int
    enrolled_at: float


@dataclass(frozen=True)
class SecretRow:
    """One wrapped secret of the key catalog as stored (opaque without the KEK).

    ``kind`` and ``owner`` (a collection name or ``"vault"``) and ``slot`` (the DEK
    or seed version, the key set's parameter set, 0 for singletons) identify it;
    ``version`` is its blob header's key version (0 for values written before the
    header existed); ``value`` is blob header + envelope, or a bare wrapped key.
    """

    kind: str
    owner: str
    slot: int
    version: int
    value: bytes


class TemplateStore(ABC):
    """Durable storage for collections, subject placement and protected blocks."""

    #: None when an erasure's commit leaves no copy of the old block bytes in the
    #: store's files (SQLite: secure_delete and a WAL purge). Otherwise a short
    #: token saying what remains until the backend's own clean-up (PostgreSQL:
    #: the dead row version until VACUUM); the core records it in every erasure's
    #: audit entry, so each receipt says it too.
    erasure_residue: str | None = None

    # --- collections -----------------------------------------------------------
    @abstractmethod
    def create_collection(self, record: CollectionRecord) -> None:
        """Insert a collection; raises AlreadyExists if the name is taken."""

    @abstractmethod
    def get_collection(self, name: str) -> CollectionRecord | None:
        """Return the collection or None."""

    @abstractmethod
    def list_collections(self) -> list[CollectionRecord]:
        """All collections, by name."""

    # --- subjects --------------------------------------------------------------
    @abstractmethod
    def count_subjects(self, collection: str) -> int:
        """Number of enrolled (live) subjects."""

    @abstractmethod
    def get_subject(self, collection: str, subject_id: str) -> SubjectRecord | None:
        """Placement of one subject, or None."""

    @abstractmethod
    def list_subjects(self, collection: str) -> list[SubjectRecord]:
        """Every live subject of a collection (to rebuild slot -> id maps)."""

    @abstractmethod
    def existing_subject_ids(self, collection: str, subject_ids: Sequence[str]) -> set[str]:
        """Which of the given ids are already enrolled."""

    # --- blocks ----------------------------------------------------------------
    @abstractmethod
    def iter_blocks(self, collection: str) -> Iterator[BlockRecord]:
        """Blocks of a collection in block_no order."""

    @abstractmethod
    def get_block(self, collection: str, block_no: int) -> BlockRecord | None:
        """One block or None."""

    # --- several writers (PostgreSQL) -------------------------------------------
    def collection_generation(self, collection: str) -> int | None:
        """A counter every committed change of ``collection`` bumps, or None where
        no other process can write the store (SQLite: one serving process)."""
        return None

    def collection_lock(self, collection: str) -> AbstractContextManager[None]:
        """Held around planning and committing a change of ``collection``, so that
        writers in several processes take turns (here: one process, no lock)."""
        return nullcontext()

    def block_bookkeeping(self, collection: str) -> dict[int, tuple[int, int, int]]:
        """(next_slot, live, encryptions) of every block, without the blobs
        (a front-end following other writers diffs it; backends override the scan)."""
        return {
            b.block_no: (b.next_slot, b.live, b.encryptions) for b in self.iter_blocks(collection)
        }

    def subjects_in_blocks(self, collection: str, block_nos: Sequence[int]) -> list[SubjectRecord]:
        """The live subjects of some blocks of a collection."""
        wanted = set(block_nos)
        return [s for s in self.list_subjects(collection) if s.block_no in wanted]

    def run_alone(self, task: str) -> AbstractContextManager[bool]:
        """Entered around a periodic task (a retention sweep): yields False while
        another process runs ``task`` on this store (here: always True)."""
        return nullcontext(True)

    # --- atomic changes --------------------------------------------------------
    @abstractmethod
    def commit_enrollment(
        self, collection: str, blocks: Sequence[BlockRecord], subjects: Sequence[SubjectRecord]
    ) -> None:
        """Upsert the changed blocks and insert the new subjects in one transaction.

        Raises AlreadyExists (and changes nothing) if any subject id is taken.
        """

    @abstractmethod
    def commit_erasure(
        self,
        collection: str,
        subject_id: str,
        *,
        replacement: BlockRecord | None,
        drop_block: int | None,
    ) -> None:
        """Remove a subject and, in the same transaction, either overwrite its block
        with ``replacement`` or drop block ``drop_block`` entirely. Afterwards no
        copy of the old block bytes may remain in the database files.
        """

    def commit_erasures(
        self,
        collection: str,
        subject_ids: Sequence[str],
        *,
        replacement: BlockRecord | None,
        drop_block: int | None,
    ) -> None:
        """Bulk form of :meth:`commit_erasure` for several subjects of one block
        (``replacement`` already erases all of them). This default runs one
        transaction per subject, rewriting the same replacement; stores override it
        to do one transaction.
        """
        for index, subject_id in enumerate(subject_ids):
            last = index == len(subject_ids) - 1
            if drop_block is not None and not last:
                # The block still holds the others: keep it (their slots stay live
                # until their own row goes) - it is dropped with the last subject.
                block = self.get_block(collection, drop_block)
                if block is None:
                    raise NotFound(f"block {drop_block} of {collection!r} does not exist")
                self.commit_erasure(collection, subject_id, replacement=block, drop_block=None)
            else:
                self.commit_erasure(
                    collection, subject_id, replacement=replacement, drop_block=drop_block
                )

    # --- the key catalog's wrapped secrets --------------------------------------
    @abstractmethod
    def get_secret(self, kind: str, owner: str, slot: int) -> SecretRow | None:
        """One stored secret, or None."""

    @abstractmethod
    def list_secrets(self, kind: str | None = None, owner: str | None = None) -> list[SecretRow]:
        """Stored secrets (of ``kind`` / ``owner`` if given) by kind, owner and slot."""

    @abstractmethod
    def put_secret(self, row: SecretRow) -> None:
        """Insert a new secret; raises AlreadyExists (changing nothing) if it is stored."""

    @abstractmethod
    def replace_secret(self, row: SecretRow, expected: bytes) -> bool:
        """Compare-and-swap: store ``row`` if the secret still holds ``expected``.

        Returns:
            True if replaced; False if it changed or vanished meanwhile.
        """

    @abstractmethod
    def delete_secret(self, kind: str, owner: str, slot: int) -> None:
        """Remove a secret (no error if absent)."""

    # --- small metadata (parameters, journals) ---------------------------------
    @abstractmethod
    def get_meta(self, key: str) -> bytes | None:
        """Read a metadata value."""

    @abstractmethod
    def put_meta(self, key: str, value: bytes, *, overwrite: bool = False) -> None:
        """Write a metadata value; refuses to overwrite unless asked."""

    def holds_audit_rows(self, rows: object) -> bool:
        """Whether an audit log's ``rows`` live on this store's own connection, so
        that their transaction is this store's and an act's entries can commit
        with it (PostgreSQL). False here: the log is kept apart (SQLite)."""
        return False

    @abstractmethod
    def close(self) -> None:
        """Flush and close."""
