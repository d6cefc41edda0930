"""The core's side of the audit log: one pseudonymised event per security-relevant act.

Every use case records what it did through :class:`AuditTrail`, so subject ids
reach the log only as HMAC pseudonyms (the key is wrapped by Vault) and a batch of
subjects is listed in chunks of 1,000 with a digest of the whole list
(vault/core/ledger.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

from vault.audit.actions import AuditAction
from vault.audit.base import AuditEvent, AuditSink
from vault.audit.rows import LogRows
from vault.core.ledger import chunked
from vault.errors import ConfigurationError, VaultError
from vault.keys.datakey import DataKey
from vault.store.base import TemplateStore
from vault.types import RequestContext

__all__ = ["AuditTrail", "AuditedChange", "Details", "check_joint"]

Details = dict[str, str | int | float | bool]
#: Subjects named in the entry of a use case; larger sets are left out of it (the
#: acts that handle more, enrolment and bulk erasure, write chunked entries).
_MAX_LISTED_SUBJECTS = 1000


def check_joint(sink: AuditSink, store: TemplateStore) -> None:
    """Refuse a log whose appends join a database transaction that is not the
    store's: its entries would commit apart from the acts they record.

    The seam: the core asks the store whether the log's rows are its own (on
    PostgreSQL they share its connection); a separate log (SQLite file, in-memory
    sink) makes no claim and keeps the write-ahead protocol.

    Raises:
        ConfigurationError: The log's rows have transactions of another store.
    """
    rows = getattr(sink, "rows", None)
    joins = isinstance(rows, LogRows) and rows.transaction() is not None
    if joins and not store.holds_audit_rows(rows):
        raise ConfigurationError(
            f"the audit log's rows ({getattr(rows, 'name', '?')}) are not on the template "
            "store's connection; its entries could not commit with the store's changes"
        )


class AuditedChange:
    """A use case that changes the store, audited by :meth:`AuditTrail.audited_change`.

    Its body wraps the store commit in :meth:`committing`. Where the audit log
    lives in the store's database (PostgreSQL) the ``ok`` entry is appended inside
    the commit's transaction, so the change and its entry succeed or fail
    together; elsewhere (the SQLite log file) the entry follows the commit, as
    :meth:`AuditTrail.audited` writes it.
    """

    def __init__(self, sink: AuditSink, details: Details, record_ok: Callable[[], None]) -> None:
        self.details = details
        #: Whether the ok entry is already committed with the change.
        self.recorded = False
        self._sink = sink
        self._record_ok = record_ok

    def committing(self) -> AbstractContextManager[None]:
        """The scope of the store commit (the ok entry joins it when it can)."""
        return self._committing()

    @contextmanager
    def _committing(self) -> Iterator[None]:
        with self._sink.transaction() as joint:
            yield
            if joint:
                self._record_ok()
        # Only once the transaction committed: a failed one took the entry with it.
        self.recorded = joint


class AuditTrail:
    """Appends the core's audit events.

    Args:
        sink: The audit log.
        pseudonym_key: HMAC key of subject pseudonyms.
        clock: Seconds since the epoch.
    """

    def __init__(self, sink: AuditSink, pseudonym_key: DataKey, clock: Callable[[], float]) -> None:
        self._sink = sink
        self._pseudonym_key = pseudonym_key
        self._clock = clock

    def pseudonym(self, collection: str, subject_id: str) -> str:
        """The subject's pseudonym in the log (stable per collection and id)."""
        return self._pseudonym_key.mac(f"{collection}\x00{subject_id}".encode())[:16].hex()

    def named(self, collection: str, subject_ids: Sequence[str]) -> list[str]:
        """Pseudonyms of ``subject_ids`` for one entry (none when there are too many)."""
        listed = subject_ids if len(subject_ids) <= _MAX_LISTED_SUBJECTS else ()
        return [self.pseudonym(collection, s) for s in listed]

    def keyed_seed(self, label: str) -> int:
        """A 64-bit number derived from ``label`` under the pseudonym key (a keyed PRF)."""
        return int.from_bytes(self._pseudonym_key.mac(label.encode())[:8], "big")

    def append_listed(
        self,
        action: AuditAction,
        collection: str,
        ctx: RequestContext,
        subject_ids: Sequence[str],
        outcome: str,
        details: Details,
    ) -> None:
        """Append one entry per chunk of up to 1,000 pseudonyms (vault/core/ledger.py)."""
        pseudonyms = [self.pseudonym(collection, s) for s in subject_ids]
        for listed, chunk in chunked(pseudonyms):
            self.append_event(action, collection, ctx, listed, outcome, {**details, **chunk})

    def enrolment(
        self,
        collection: str,
        requests: Sequence[tuple[tuple[RequestContext, Details], list[str]]],
        commit: Callable[[], None],
    ) -> None:
        """Append each request's ``enroll`` entries and run the store ``commit``.

        Where the log lives in the store's database (PostgreSQL) the entries are
        inserted in the commit's own transaction: both or neither. Otherwise (the
        SQLite log file) they are written before the commit: an enrolment the log
        cannot record does not happen, a refused commit is taken back by
        ``enroll.rollback`` entries, and a crash after the entries but before the
        commit is found and recorded at the next start (vault/core/ledger.py).
        """
        written: list[tuple[RequestContext, list[str]]] = []
        with self._sink.transaction() as joint:
            try:
                for (ctx, details), ids in requests:
                    written.append((ctx, ids))
                    self.append_listed(AuditAction.ENROLL, collection, ctx, ids, "ok", details)
                commit()
            except BaseException as error:
                # A joint transaction takes the entries back with the commit.
                for ctx, ids in [] if joint else written:  # they said "ok": take them back
                    reason: Details = {"reason": type(error).__name__}
                    self.append_listed(
                        AuditAction.ENROLL_ROLLBACK, collection, ctx, ids, "ok", reason
                    )
                raise

    def append_event(
        self,
        action: AuditAction,
        collection: str,
        ctx: RequestContext,
        pseudonyms: Sequence[str],
        outcome: str,
        details: Details,
    ) -> None:
        """Append one entry naming already pseudonymised subjects."""
        self._sink.append(
            AuditEvent(
                time=self._clock(),
                actor=ctx.actor,
                action=action,
                collection=collection,
                outcome=outcome,
                purpose=ctx.purpose,
                subjects=tuple(pseudonyms),
                details=details,
            )
        )

    @contextmanager
    def audited(
        self,
        action: AuditAction,
        collection: str,
        ctx: RequestContext,
        subjects: Sequence[str] = (),
        **details: str | int | float | bool,
    ) -> Iterator[Details]:
        """Run a use case and append its audit event, whatever the outcome."""
        with self.audited_change(action, collection, ctx, subjects, **details) as change:
            yield change.details

    @contextmanager
    def audited_change(
        self,
        action: AuditAction,
        collection: str,
        ctx: RequestContext,
        subjects: Sequence[str] = (),
        **details: str | int | float | bool,
    ) -> Iterator[AuditedChange]:
        """Like :meth:`audited`, for a use case whose store commit the entry may
        join (:class:`AuditedChange`). A failure is recorded after the failed
        transaction rolled back, in an entry of its own."""
        named = self.named(collection, subjects)
        change = AuditedChange(
            self._sink,
            details,
            lambda: self.append_event(action, collection, ctx, named, "ok", details),
        )
        outcome = "ok"
        try:
            yield change
        except VaultError as e:
            outcome = type(e).__name__
            raise
        except Exception:
            outcome = "internal_error"
            raise
        finally:
            if not change.recorded:
                self.append_event(action, collection, ctx, named, outcome, details)
