"""The compliance component the core holds: the Merkle log, receipts, enrolled consent.

:class:`ComplianceGuard` is passed to :class:`~vault.core.vault.VaultCore` at
start-up (vault.service.bootstrap); ``VaultCore.delete`` and ``delete_many`` use it
to give an erasure request its default purpose and every erasure its receipt
(entry, inclusion proof, signed checkpoint) that verifies offline. The compliance
use cases built on it are in vault.core.compliance.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from vault.audit.actions import AuditAction
from vault.audit.entry import LogEntry, decode_entry
from vault.audit.log import MerkleAuditLog
from vault.types import DeleteResult, RequestContext

__all__ = ["ComplianceGuard", "NoCompliance", "Receipts"]

_SCAN_WINDOW = 4096


class Receipts:
    """The entries one thread appended while erasing, turned into erasure receipts."""

    def __init__(self, log: MerkleAuditLog | None, appended: list[int]) -> None:
        self._log = log
        self._appended = appended

    def attach(self, results: list[DeleteResult]) -> list[DeleteResult]:
        """Each result with the receipt of its own entry: one entry per erased subject,
        the last ones this thread appended, in order (no log: the results as they are)."""
        if self._log is None:
            return list(results)
        log = self._log
        entries = self._appended[len(self._appended) - len(results) :]
        return [
            dataclasses.replace(result, receipt=log.receipt(seq))
            for result, seq in zip(results, entries, strict=True)
        ]


class ComplianceGuard:
    """What the core asks of compliance: the Merkle log it audits to, receipts, and
    the consent each subject was enrolled under.

    Args:
        log: The audit log; the core it is wired into must audit to it.
    """

    def __init__(self, log: MerkleAuditLog) -> None:
        self.log = log

    @staticmethod
    def erasure_request(ctx: RequestContext) -> RequestContext:
        """The context an erasure request is logged under (its purpose, by default
        ``erasure-request``)."""
        return ctx if ctx.purpose else dataclasses.replace(ctx, purpose="erasure-request")

    @contextlib.contextmanager
    def receipts(self) -> Iterator[Receipts]:
        """Collect the entries the erasures inside the block append, for receipts."""
        with self.log.capture() as appended:
            yield Receipts(self.log, appended)

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[LogEntry]:
        """The log's entries ``start`` .. ``end`` (default: to the end), decoded."""
        for _, data, _ in self.log.iter_rows(start, self.log.size if end is None else end):
            yield decode_entry(data)

    def enrolled_consent_ref(self, collection: str, pseudonym: str) -> str | None:
        """The consent reference of the subject's latest enrolment, from the log
        (including what other front-ends appended)."""
        end = self.log.sync()
        while end > 0:
            start = max(0, end - _SCAN_WINDOW)
            for entry in reversed(list(self.entries(start, end))):
                if (
                    entry.action == AuditAction.ENROLL
                    and entry.outcome == "ok"
                    and entry.collection == collection
                    and pseudonym in entry.subjects
                ):
                    ref = entry.details.get("consent_ref")
                    return ref if isinstance(ref, str) else None
            end = start
        return None


class NoCompliance:
    """A core without a Merkle log (in-process tools, unit tests): erasure requests
    keep the context they came with and their results carry no receipt."""

    @staticmethod
    def erasure_request(ctx: RequestContext) -> RequestContext:
        """``ctx`` unchanged."""
        return ctx

    @contextlib.contextmanager
    def receipts(self) -> Iterator[Receipts]:
        """Receipts that attach nothing."""
        yield Receipts(None, [])
