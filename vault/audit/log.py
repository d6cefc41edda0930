"""The tamper-evident audit log: an RFC 6962 Merkle tree with a signed checkpoint
for every entry.

``append`` assigns the next sequence number, encodes the entry canonically, adds
its leaf to the tree, signs the checkpoint of the new tree size (C2SP format,
Ed25519) and commits entry and checkpoint together in one durable SQLite write -
all before the audited call returns. So every act a caller was told about is
covered by a signed checkpoint, and rewriting history afterwards means re-signing
it, which the auditor's saved checkpoints and the subjects' receipts expose.

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
from vault.errors import ConfigurationError, IntegrityError, NotFound, StorageError
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
        self._lock = threading.Lock()
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
            self._db.put_meta(_ORIGIN_KEY, self._signer.name)
        elif origin != self._signer.name:
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
    def append(self, event: AuditEvent) -> int:
        """Sign and durably store one entry; returns its sequence number.

        Raises:
            ValueError: The event holds a detail that is not a scalar (nothing
                is written).
            StorageError: The write failed or the log is closed (the entry is
                not in the log).
        """
        with self._lock:
            self._check_open()
            seq = self._tree.size
            # Never backwards: an auditor checks that times are monotonic.
            time_us = max(round(event.time * 1e6), self._last_time_us)
            data = encode_entry(entry_from_event(seq, time_us, event))
            leaf = leaf_hash(data)
            self._tree.append(leaf)
            try:
                note = sign_checkpoint(
                    self._signer, Checkpoint(self._signer.name, seq + 1, self._tree.root())
                )
                self._db.append(seq, data, note)
            except BaseException:
                self._tree = _without_last(self._tree)
                raise
            self._last_time_us = time_us
            for captured in getattr(self._local, "captures", ()):
                captured.append(seq)
            return seq

    def append_many(self, events: list[AuditEvent]) -> list[int]:
        """Like :meth:`append` for several events, in order, in one durable write.

        Each entry still gets its own signed checkpoint (so its own receipt); only
        the commit is shared. All or nothing: on failure no entry is in the log.
        """
        with self._lock:
            self._check_open()
            size_before, last_time = self._tree.size, self._last_time_us
            rows: list[tuple[int, bytes, str]] = []
            try:
                for event in events:
                    seq = self._tree.size
                    last_time = max(round(event.time * 1e6), last_time)
                    data = encode_entry(entry_from_event(seq, last_time, event))
                    self._tree.append(leaf_hash(data))
                    note = sign_checkpoint(
                        self._signer, Checkpoint(self._signer.name, seq + 1, self._tree.root())
                    )
                    rows.append((seq, data, note))
                self._db.append_many(rows)
            except BaseException:
                # Rare (disk full, closed file): rebuild the tree without the new leaves.
                rebuilt = MerkleTree()
                for index in range(size_before):
                    rebuilt.append(self._tree.leaf(index))
                self._tree = rebuilt
                raise
            self._last_time_us = last_time
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


def _without_last(tree: MerkleTree) -> MerkleTree:
    # A failed write must not leave its leaf in memory: rebuild without it.
    # Rare (disk full, closed file), so O(n) is fine.
    rebuilt = MerkleTree()
    for index in range(tree.size - 1):
        rebuilt.append(tree.leaf(index))
    return rebuilt
