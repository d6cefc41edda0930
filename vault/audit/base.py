"""The audit hook: the core reports every security-relevant act through AuditSink.

Events carry who, what, where, why and the outcome - never a template, probe,
score vector or key material. Subject ids are pseudonymised by the core before an
event is built.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

__all__ = ["AuditEvent", "AuditSink"]


@dataclass(frozen=True)
class AuditEvent:
    """One security-relevant act."""

    time: float
    actor: str
    action: str  # an AuditAction (vault/audit/actions.py); stored as its string
    collection: str
    outcome: str  # "ok" or an error class name
    purpose: str = ""
    subjects: tuple[str, ...] = ()  # pseudonyms, never raw ids
    details: dict[str, str | int | float | bool] = field(default_factory=dict)


class AuditSink(ABC):
    """Append-only destination of audit events."""

    @abstractmethod
    def append(self, event: AuditEvent) -> int | None:
        """Durably record one event before the call it describes returns.

        Returns:
            The entry's position in the log, for sinks that number their entries
            (None otherwise).
        """

    def transaction(self) -> AbstractContextManager[bool]:
        """A scope whose appends commit together with the store writes inside it.

        Yields True when the sink's rows live in the store's database and the
        whole block is one database transaction (PostgreSQL): entries appended
        inside become durable only if the block completes, and vanish with the
        store change if it fails. Yields False (and does nothing) when the sink
        is separate (the SQLite log file, in-memory sinks): its appends are then
        durable at once, and the caller keeps its write-ahead protocol.
        """
        return nullcontext(False)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and close."""
