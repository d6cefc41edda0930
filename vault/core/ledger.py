"""Who the audit log says is enrolled: the entries that add and remove subjects.

The store and the log must agree on every collection's subjects. The core makes
that hold across crashes by writing each enrolment's entries *before* the store
commit that makes it visible (write-ahead), so a crash can leave only one kind of
difference: subjects the log lists as enrolled that the store does not hold
(entries written, commit lost). The next start finds them and appends
``reconcile.absent`` entries saying so; ``fsck`` counts them as pending until then.
That is the SQLite log's protocol. On PostgreSQL the entries are inserted in the
store commit's own transaction (``AuditSink.transaction``), so there is no such
difference to find; the rules below read both logs alike.

The rules, for auditors replaying a bundle:

* ``enroll`` with outcome ``ok`` adds its listed subjects. An enrolment of more
  than :data:`MAX_LISTED` subjects is split into consecutive entries that each
  list up to that many pseudonyms, with ``chunk`` (1-based), ``chunks`` and
  ``subjects_sha256`` - the SHA-256 of all the request's pseudonyms joined by
  newlines, in request order - so the chunks can be checked to add up. (Logs
  written before this rule listed no subjects for large batches; such an entry
  counts its ``count``.)
* ``delete``, ``consent.withdraw``, ``retention.erase`` and ``keys.revoke`` with
  outcome ``ok`` remove their listed subject, unless ``erased`` is 0 (a
  revocation that found the subject already gone).
* ``enroll.rollback`` (the store refused a commit whose entries were written)
  and ``reconcile.absent`` (found missing at start-up) remove their subjects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from vault.audit.actions import ERASURE_ACTIONS, AuditAction
from vault.audit.entry import LogEntry

__all__ = [
    "MAX_LISTED",
    "CollectionLedger",
    "chunked",
    "replay",
]

MAX_LISTED: Final = 1000
_REMOVALS: Final = ERASURE_ACTIONS | {AuditAction.ENROLL_ROLLBACK, AuditAction.RECONCILE_ABSENT}

Details = dict[str, str | int | float | bool]


def chunked(pseudonyms: Sequence[str]) -> list[tuple[tuple[str, ...], Details]]:
    """Split a subject list into entry-sized chunks, each with its chunk details."""
    if len(pseudonyms) <= MAX_LISTED:
        return [(tuple(pseudonyms), {})]
    digest = hashlib.sha256("\n".join(pseudonyms).encode("ascii")).hexdigest()
    count = -(-len(pseudonyms) // MAX_LISTED)
    return [
        (
            tuple(pseudonyms[i * MAX_LISTED : (i + 1) * MAX_LISTED]),
            {"chunk": i + 1, "chunks": count, "subjects_sha256": digest},
        )
        for i in range(count)
    ]


@dataclass
class CollectionLedger:
    """One collection's subjects as the log accounts for them."""

    live: int = 0
    pseudonyms: set[str] = field(default_factory=set)
    # Subject counts of the ok enrolment entries since the last removal: a crash
    # between writing entries and the store commit loses a suffix of these.
    since_removal: list[int] = field(default_factory=list)

    def pending_candidates(self) -> set[int]:
        """Differences (log minus store) that a crash before a commit explains."""
        sums, total = {0}, 0
        for count in reversed(self.since_removal):
            total += count
            sums.add(total)
        return sums


def replay(entries: Iterable[LogEntry], *, track: bool = False) -> dict[str, CollectionLedger]:
    """Account for every collection's subjects (pseudonyms too when ``track``)."""
    ledgers: dict[str, CollectionLedger] = {}
    for entry in entries:
        if entry.outcome != "ok":
            continue
        if entry.action == AuditAction.ENROLL:
            ledger = ledgers.setdefault(entry.collection, CollectionLedger())
            listed = bool(entry.subjects) or "chunks" in entry.details
            count = len(entry.subjects) if listed else _int(entry.details.get("count"))
            ledger.live += count
            ledger.since_removal.append(count)
            if track:
                ledger.pseudonyms.update(entry.subjects)
        elif entry.action in _REMOVALS and entry.details.get("erased", 1) != 0:
            ledger = ledgers.setdefault(entry.collection, CollectionLedger())
            ledger.live -= len(entry.subjects)
            ledger.since_removal = []
            if track:
                ledger.pseudonyms.difference_update(entry.subjects)
    return ledgers


def _int(value: object) -> int:
    return value if type(value) is int else 0
