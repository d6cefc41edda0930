"""Compliance use cases: erasure receipts, consent withdrawal, retention, audit access.

:class:`CompliantVault` is the core the service runs: every use case of
:class:`~vault.core.vault.VaultCore`, with its audit events going to the Merkle
log, plus

* ``delete`` returning an erasure receipt (entry, inclusion proof, signed
  checkpoint) that verifies offline;
* ``withdraw_consent`` - withdrawal of consent is erasure (GDPR Art. 7(3), 17);
* ``enforce_retention`` - erases every template older than its collection's
  retention period, one audited erasure each, then a summary entry;
* read access to the log for auditors (public key, checkpoint, export), the
  export itself audited.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from vault.audit.bundle import export_bundle
from vault.audit.entry import format_time
from vault.audit.log import MerkleAuditLog
from vault.core.bulk_erase import erase_many
from vault.core.retention import RetentionResult, retention_of
from vault.core.vault import VaultCore
from vault.errors import VaultError
from vault.types import DeleteResult, RequestContext

__all__ = ["SYSTEM_RETENTION", "ComplianceApi", "CompliantVault"]

#: Who the scheduled retention job acts as in the log.
SYSTEM_RETENTION = RequestContext(actor="system:retention-scheduler", purpose="retention")


class ComplianceApi(Protocol):
    """The compliance surface the gRPC servicer talks to."""

    def audit_public_key(self) -> str:
        """The log's verifier key."""
        ...

    def audit_checkpoint(self) -> str:
        """The latest signed checkpoint."""
        ...

    def export_audit(self, ctx: RequestContext) -> Iterator[tuple[str, bytes]]:
        """A bundle of the whole log as (file name, chunk) pairs."""
        ...

    def enforce_retention(
        self, ctx: RequestContext, collection: str | None = None
    ) -> list[RetentionResult]:
        """Erase every expired template (of one collection, or all)."""
        ...

    def withdraw_consent(
        self, collection: str, subject_id: str, ctx: RequestContext
    ) -> DeleteResult:
        """Erase a subject whose consent was withdrawn; returns the receipt."""
        ...


class CompliantVault(VaultCore):
    """The vault core over a :class:`MerkleAuditLog`, with the compliance use cases.

    Args:
        log: The audit log (also the core's audit sink).
        **core_args: Everything else :class:`VaultCore` takes, except ``audit``.
    """

    def __init__(self, *, log: MerkleAuditLog, **core_args: Any) -> None:
        super().__init__(audit=log, **core_args)
        self._log = log

    def _with_receipt(self, erase: Callable[[], DeleteResult]) -> DeleteResult:
        with self._log.capture() as appended:
            result = erase()
        # The erasure's own entry is the last one this thread appended.
        return dataclasses.replace(result, receipt=self._log.receipt(appended[-1]))

    def delete(self, collection: str, subject_id: str, ctx: RequestContext) -> DeleteResult:
        """Erase a subject on request; the result carries an erasure receipt."""
        if not ctx.purpose:
            ctx = dataclasses.replace(ctx, purpose="erasure-request")
        return self._with_receipt(lambda: self._erase(collection, subject_id, ctx, action="delete"))

    def delete_many(
        self, collection: str, subject_ids: Sequence[str], ctx: RequestContext
    ) -> list[DeleteResult]:
        """Bulk erasure on request; every result carries its own erasure receipt."""
        if not ctx.purpose:
            ctx = dataclasses.replace(ctx, purpose="erasure-request")
        with self._log.capture() as appended:
            results = erase_many(self, collection, subject_ids, ctx, action="delete")
        # One entry per erased subject, appended in order by this thread.
        entries = appended[len(appended) - len(results) :]
        return [
            dataclasses.replace(r, receipt=self._log.receipt(seq))
            for r, seq in zip(results, entries, strict=True)
        ]

    def withdraw_consent(
        self, collection: str, subject_id: str, ctx: RequestContext
    ) -> DeleteResult:
        """Consent withdrawn: erase the subject's template, logged as a withdrawal."""
        ctx = dataclasses.replace(ctx, purpose=ctx.purpose or "consent-withdrawn")
        return self._with_receipt(
            lambda: self._erase(
                collection,
                subject_id,
                ctx,
                action="consent.withdraw",
                consent_ref=ctx.consent_ref,
            )
        )

    def enforce_retention(
        self, ctx: RequestContext, collection: str | None = None
    ) -> list[RetentionResult]:
        """Erase every template enrolled longer ago than its collection's retention.

        Each erasure is its own audit entry (action ``retention.erase``, with the
        enrolment time and the deadline); the run itself is one
        ``retention.enforce`` entry (logged even when nothing expired: evidence
        that the schedule ran).

        Raises:
            NotFound: ``collection`` is given and unknown.
        """
        ctx = dataclasses.replace(ctx, purpose=ctx.purpose or "retention")
        results: list[RetentionResult] = []
        with self._audited("retention.enforce", collection or "", ctx) as info:
            if collection is not None:
                self._collection(collection)  # validates the name, NotFound if unknown
            names = [collection] if collection is not None else sorted(self._collections)
            for name in names:
                results.append(self._enforce_one(name, ctx))
            info["collections"] = len(results)
            info["erased"] = sum(len(r.erased) for r in results)
        return results

    def _enforce_one(self, name: str, ctx: RequestContext) -> RetentionResult:
        target, _ = self._collection(name)
        retention = retention_of(target.record)
        cutoff = self._clock() - retention
        expired = {
            subject.subject_id: subject.enrolled_at
            for subject in self._store.list_subjects(name)
            if subject.enrolled_at <= cutoff
        }

        def details(subject_id: str) -> dict[str, str]:
            enrolled_at = expired[subject_id]
            return {
                "enrolled_at": format_time(round(enrolled_at * 1e6)),
                "deadline": format_time(round((enrolled_at + retention) * 1e6)),
            }

        # One audited erasure per subject, one rewrite per block (vault.core.bulk_erase);
        # subjects erased meanwhile by someone else are skipped.
        done = erase_many(
            self,
            name,
            list(expired),
            ctx,
            action="retention.erase",
            details_of=details,
            missing_ok=True,
        )
        erased = [result.subject_id for result in done]
        return RetentionResult(name, retention, cutoff, tuple(erased))

    def record_service_start(self, **details: str | int | float | bool) -> None:
        """Log that the service started (with how its audit key was obtained)."""
        system = RequestContext(actor="system:service")
        details["audit_key_id"] = self._log.key_id
        with self._audited("service.start", "", system, (), **details):
            pass

    def record_refused_call(self, rpc: str, error: VaultError, ctx: RequestContext) -> None:
        """Log a call the transport refused (no identity, wrong role); outcome names why."""
        with contextlib.suppress(type(error)), self._audited("access.refused", "", ctx, rpc=rpc):
            raise error

    # --- audit log access ------------------------------------------------------
    def audit_public_key(self) -> str:
        return self._log.verifier_key

    def audit_checkpoint(self) -> str:
        return self._log.checkpoint()

    def export_audit(self, ctx: RequestContext) -> Iterator[tuple[str, bytes]]:
        """Audit the export first, so the bundle shows who took it."""
        with self._audited("audit.export", "", ctx):
            pass
        return export_bundle(self._log)
