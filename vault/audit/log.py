"""The tamper-evident audit log: an RFC 6962 Merkle tree with a signed checkpoint
for every entry.

``append`` assigns the next sequence number, encodes the entry canonically, adds
its leaf to the tree, signs the checkpoint of the new tree size (C2SP format,
Ed25519) and commits entry and checkpoint together in one durable write - all
before the audited call returns. In PostgreSQL (rows with a transaction) that
write can be the store's own transaction (:meth:`MerkleAuditLog.transaction`),
and several processes may append: each write first locks the log and reads the
entries the others appended, so there is one sequence and one tree.

So every act a caller was told about is covered by a signed checkpoint, and
rewriting history afterwards means re-signing it, which the auditor's saved
checkpoints and the subjects' receipts expose.

On open, the log recomputes its root from the stored entries and checks it against
the last signed checkpoint: a log altered at rest refuses to start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from vault.audit._logdb import LogDatabase
from vault.audit.base import AuditEvent, AuditSink
from vault.audit.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from vault.audit.entry import decode_entry, encode_entry, entry_from_event
from vault.audit.merkle import leaf_hash
from vault.audit.note import NoteError, NoteSigner, NoteVerifier
from vault.audit.rows import LogRows
from vault.audit.tree import MerkleTree
from vault.errors import (
    AlreadyExists,
    ConfigurationError,
    IntegrityError,
    NotFound,
    StorageError,
)
from vault.types import ErasureReceipt

__all__ = ["MerkleAuditLog"]

_ORIGIN_KEY = "origin"
_BATCH = 2048


class MerkleAuditLog(AuditSink):
    """Append-only, signed, verifiable audit log in one SQLite file.

    Thread-safe. Entries are numbered from 0; the checkpoint stored with entry
    ``i`` is the signed tree head of size ``i + 1``.

    Args:
        path: The log file (``audit.db`` in the data directory), or the rows
            of a log kept elsewhere (the PostgreSQL store's).
        signer: The log's Ed25519 key; its name is the log's origin.
        create: Whether a missing file may be created. A data directory whose
            signing key already existed passes False: its log must be there.
        clock: Time source in seconds (entry times never go backwards).

    Raises:
        IntegrityError: The stored entries do not match the last signed
            checkpoint, the log is missing although it should exist, or a row
            is damaged.
        ConfigurationError: The file belongs to a log with another origin, or its
            checkpoints were signed by another key.
        StorageError: The file cannot be opened.
    """

    def __init__(
        self,
        path: Path | LogRows,
        signer: NoteSigner,
        *,
        create: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._signer = signer
        self._verifier = NoteVerifier(signer.verifier_key)
        self._clock = clock
        # Re-entrant: appends run inside transaction(), which holds it too.
        self._lock = threading.RLock()
        self._local = threading.local()
        self._tree = MerkleTree()
        self._last_time_us = 0
        self._closed = False
        try:
            if isinstance(path, LogRows):
                self._db: LogRows = path
                if not create and path.get_meta(_ORIGIN_KEY) is None:
                    raise FileNotFoundError(path.name)
            else:
                self._db = LogDatabase(path, create=create)
        except FileNotFoundError:
            raise IntegrityError(
                f"audit log {getattr(path, 'name', path)} is missing, but this vault's audit "
                "key has signed checkpoints before; refusing to start a new log under it"
            ) from None
        try:
            self._load()
        except BaseException:
            self._db.close()
            raise

    # --- opening ----------------------------------------------------------------
    def _load(self) -> None:
        origin = self._db.get_meta(_ORIGIN_KEY)
        if origin is None:
            if self._db.count():
                raise IntegrityError(f"audit log {self._db.name} has entries but no origin")
            try:
                self._db.put_meta(_ORIGIN_KEY, self._signer.name)
            except AlreadyExists:  # another writer created the log meanwhile
                origin = self._db.get_meta(_ORIGIN_KEY)
        if origin is not None and origin != self._signer.name:
            raise ConfigurationError(
                f"audit log {self._db.name} belongs to log {origin!r}, not {self._signer.name!r}"
            )
        last_checkpoint = None
        for seq, data, checkpoint in self._iter_rows_unlocked(0, None):
            if seq != self._tree.size:
                raise IntegrityError(
                    f"audit log {self._db.name}: entry {self._tree.size} is missing"
                )
            entry = decode_entry(data)
            if entry.seq != seq:
                raise IntegrityError(f"audit log {self._db.name}: entry {seq} has seq {entry.seq}")
            self._tree.append(leaf_hash(data))
            self._last_time_us = max(self._last_time_us, entry.time_us)
            last_checkpoint = checkpoint
        if last_checkpoint is None:
            return
        try:
            signed = open_checkpoint(self._verifier, last_checkpoint)
        except NoteError as e:
            raise ConfigurationError(
                f"audit log {self._db.name}: its last checkpoint does not verify under this "
                f"data directory's audit key ({e})"
            ) from e
        if signed.size != self._tree.size or signed.root != self._tree.root():
            raise IntegrityError(
                f"audit log {self._db.name} has been altered: its {self._tree.size} entries do "
                f"not hash to the root of its last signed checkpoint (size {signed.size})"
            )

    def _iter_rows_unlocked(self, start: int, end: int | None) -> Iterator[tuple[int, bytes, str]]:
        while end is None or start < end:
            limit = _BATCH if end is None else min(_BATCH, end - start)
            batch = self._db.batch(start, limit)
            if not batch:
                return
            yield from batch
            start = batch[-1][0] + 1

    # --- writing ----------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[bool]:
        """Appends inside the block commit with the store writes inside it, if the
        rows can (PostgreSQL, see :meth:`AuditSink.transaction`); yields whether
        they do.

        When they do, the log is held for the whole block (other threads' and
        other writers' appends wait) and, if the block fails, its entries are
        gone from the database and from memory alike: no gap, no stale leaf.
        """
        if self._db.transaction() is None:
            yield False
            return
        with self._lock:
            self._check_open()
            saved = (self._tree.size, self._last_time_us)
            try:
                with self._writing():
                    yield True
            except BaseException:
                self._truncate(*saved)
                raise

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Where one write runs (caller holds the lock): in the rows' transaction,
        after catching up with what other writers appended, when they have one."""
        scope = self._db.transaction()
        if scope is None:
            yield
            return
        with scope:
            self._catch_up()
            yield

    def _catch_up(self) -> None:
        """Add the entries other writers appended since this log last looked, and
        check that the newest checkpoint is the root this log now computes (the
        rows' lock keeps them from moving meanwhile)."""
        last_checkpoint = None
        for seq, data, checkpoint in self._iter_rows_unlocked(self._tree.size, None):
            entry = decode_entry(data)
            if seq != self._tree.size or entry.seq != seq:
                raise IntegrityError(
                    f"audit log {self._db.name}: entry {self._tree.size} is missing"
                )
            self._tree.append(leaf_hash(data))
            self._last_time_us = max(self._last_time_us, entry.time_us)
            last_checkpoint = checkpoint
        if last_checkpoint is None:
            return
        try:
            signed = open_checkpoint(self._verifier, last_checkpoint)
        except NoteError as e:
            raise IntegrityError(
                f"audit log {self._db.name}: another writer's checkpoint does not verify ({e})"
            ) from e
        if signed.size != self._tree.size or signed.root != self._tree.root():
            raise IntegrityError(
                f"audit log {self._db.name}: the entries other writers appended do not hash "
                f"to their checkpoint (size {signed.size})"
            )

    def sync(self) -> int:
        """Take in the entries other writers (front-ends) committed since this log
        last wrote, so reads see them; returns the size. Needs no lock on the rows:
        writers commit one after another, so the committed rows are always a prefix.

        Raises:
            IntegrityError: Those entries do not hash to their own checkpoint.
        """
        with self._lock:
            self._check_open()
            # Rows without transactions are a file only this log writes: nothing new.
            if self._db.transaction() is not None:
                saved = (self._tree.size, self._last_time_us)
                try:
                    self._catch_up()
                except BaseException:
                    self._truncate(*saved)
                    raise
            return self._tree.size

    def _truncate(self, size: int, last_time_us: int) -> None:
        # A failed write must not leave its leaves in memory, nor its numbers in a
        # capture. Rare (a refused commit, a lost connection), so O(n) is fine.
        if self._tree.size > size:
            rebuilt = MerkleTree()
            for index in range(size):
                rebuilt.append(self._tree.leaf(index))
            self._tree = rebuilt
        self._last_time_us = last_time_us
        for captured in getattr(self._local, "captures", ()):
            captured[:] = [seq for seq in captured if seq < size]

    def append(self, event: AuditEvent) -> int:
        """Sign and durably store one entry; returns its sequence number.

        Inside :meth:`transaction` "durably" means: when that transaction commits.

        Raises:
            ValueError: The event holds a detail that is not a scalar (nothing
                is written).
            StorageError: The write failed or the log is closed (the entry is
                not in the log).
        """
        [seq] = self.append_many([event])
        return seq

    def append_many(self, events: list[AuditEvent]) -> list[int]:
        """Like :meth:`append` for several events, in order, in one durable write.

        Each entry still gets its own signed checkpoint (so its own receipt); only
        the commit is shared. All or nothing: on failure no entry is in the log.
        """
        with self._lock:
            self._check_open()
            saved = (self._tree.size, self._last_time_us)
            rows: list[tuple[int, bytes, str]] = []
            try:
                with self._writing():
                    last_time = self._last_time_us
                    for event in events:
                        seq = self._tree.size
                        # Never backwards: an auditor checks that times are monotonic.
                        last_time = max(round(event.time * 1e6), last_time)
                        data = encode_entry(entry_from_event(seq, last_time, event))
                        self._tree.append(leaf_hash(data))
                        note = sign_checkpoint(
                            self._signer, Checkpoint(self._signer.name, seq + 1, self._tree.root())
                        )
                        rows.append((seq, data, note))
                    if len(rows) == 1:
                        self._db.append(*rows[0])
                    elif rows:
                        self._db.append_many(rows)
                    self._last_time_us = last_time
            except BaseException:
                self._truncate(*saved)
                raise
            sequence = [seq for seq, _, _ in rows]
            for captured in getattr(self._local, "captures", ()):
                captured.extend(sequence)
            return sequence

    @contextmanager
    def capture(self) -> Iterator[list[int]]:
        """Collect the sequence numbers this thread appends inside the block.

        Lets a use case that audits through the core find its own entry (e.g. to
        issue an erasure receipt) without guessing among other threads' entries.
        """
        stack: list[list[int]] = self._local.__dict__.setdefault("captures", [])
        positions: list[int] = []
        stack.append(positions)
        try:
            yield positions
        finally:
            stack.remove(positions)

    # --- reading ----------------------------------------------------------------
    @property
    def origin(self) -> str:
        """The log's identity (its checkpoints' first line and its key name)."""
        return self._signer.name

    @property
    def key_id(self) -> str:
        """The signing key's id (8 hex digits), as in signature lines."""
        return f"{self._signer.key_id:08x}"

    @property
    def verifier_key(self) -> str:
        """The public key auditors verify checkpoints with."""
        return self._signer.verifier_key

    @property
    def rows(self) -> LogRows:
        """Where the entries are kept (the store asks whether they are its own)."""
        return self._db

    @property
    def size(self) -> int:
        """Number of entries."""
        with self._lock:
            return self._tree.size

    def checkpoint(self, size: int | None = None) -> str:
        """The signed checkpoint of ``size`` entries (the latest by default).

        Raises:
            NotFound: The log is empty or ``size`` is out of range.
        """
        with self._lock:
            self._check_open()
            size = self._tree.size if size is None else size
            row = self._db.row(size - 1) if size >= 1 else None
        if row is None:
            raise NotFound(f"the audit log has no checkpoint of size {size}")
        return row[1]

    def iter_rows(self, start: int, end: int) -> Iterator[tuple[int, bytes, str]]:
        """(seq, entry bytes, signed checkpoint of size seq + 1) for start <= seq < end.

        Reads in batches under the lock, so appends go on meanwhile.
        """
        while start < end:
            with self._lock:
                self._check_open()
                batch = self._db.batch(start, min(_BATCH, end - start))
            if not batch:
                return
            yield from batch
            start = batch[-1][0] + 1

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Audit path of entry ``index`` in the tree of ``size`` entries."""
        with self._lock:
            return self._tree.inclusion_proof(index, size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """Proof that the first ``old_size`` entries are a prefix of the first ``new_size``."""
        with self._lock:
            return self._tree.consistency_proof(old_size, new_size)

    def receipt(self, seq: int) -> ErasureReceipt:
        """Entry ``seq``, its inclusion proof and the checkpoint signed when it was added.

        Raises:
            NotFound: No such entry.
        """
        with self._lock:
            self._check_open()
            row = self._db.row(seq)
            if row is None or seq >= self._tree.size:
                raise NotFound(f"the audit log has no entry {seq}")
            proof = self._tree.inclusion_proof(seq, seq + 1)
        return ErasureReceipt(
            entry=row[0], leaf_index=seq, inclusion_proof=tuple(proof), checkpoint=row[1]
        )

    def sign_note(self, text: str) -> str:
        """Sign other text with the log key (the bundle manifest). The text's first
        line must not be the origin, so nothing else can pass for a checkpoint."""
        if text.split("\n", 1)[0] == self._signer.name:
            raise ValueError("only checkpoints start with the log's origin")
        return self._signer.sign(text)

    # --- lifecycle --------------------------------------------------------------
    def close(self) -> None:
        """Close the file. Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"audit log {self._db.name} is closed")
