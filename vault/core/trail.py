"""The core's side of the audit log: one pseudonymised event per security-relevant act.

Every use case records what it did through :class:`AuditTrail`, so subject ids
reach the log only as HMAC pseudonyms (the key is wrapped by Vault) and a batch of
subjects is listed in chunks of 1,000 with a digest of the whole list
(vault/core/ledger.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from vault.audit.actions import AuditAction
from vault.audit.base import AuditEvent, AuditSink
from vault.core.ledger import chunked
from vault.errors import VaultError
from vault.keys.datakey import DataKey
from vault.types import RequestContext

__all__ = ["AuditTrail", "Details"]

Details = dict[str, str | int | float | bool]
#: Subjects named in the entry of a use case; larger sets are left out of it (the
#: acts that handle more, enrolment and bulk erasure, write chunked entries).
_MAX_LISTED_SUBJECTS = 1000


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
        outcome = "ok"
        try:
            yield details
        except VaultError as e:
            outcome = type(e).__name__
            raise
        except Exception:
            outcome = "internal_error"
            raise
        finally:
            self.append_event(
                action, collection, ctx, self.named(collection, subjects), outcome, details
            )
