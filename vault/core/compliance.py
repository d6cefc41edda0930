"""Compliance, composed into the core: erasure receipts, consent, retention, audit access.

Two parts, both wired at start-up (vault.service.bootstrap):

* :class:`~vault.core.guard.ComplianceGuard` is what
  :class:`~vault.core.vault.VaultCore` holds (re-exported here): the
  Merkle audit log (also the core's audit sink), from which an erasure request
  gets its default purpose and every erasure its receipt (entry, inclusion
  proof, signed checkpoint) that verifies offline. ``VaultCore.delete`` and
  ``delete_many`` show both steps.
* :class:`ComplianceOps` is the compliance surface served to auditors and data
  protection officers (:class:`ComplianceApi`), over a core that holds a guard:

  - ``withdraw_consent`` - withdrawal of consent is erasure (GDPR Art. 7(3), 17),
    refused unless the consent reference is the one the subject was enrolled under;
  - ``enforce_retention`` - erases every template older than its collection's
    retention period, one audited erasure each, then a summary entry;
  - read access to the log for auditors (public key, checkpoint, export), the
    export itself audited; the service-start and refused-call entries;
  - at start-up, recovery of the one difference a crash can leave between store
    and log (vault/core/ledger.py): subjects logged as enrolled that the store does
    not hold get ``reconcile.absent`` entries.

  Like vault.core.bulk_erase it is a use case module of the core package: it runs
  the core's own audited erasure path rather than a copy of it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from vault.audit.actions import AuditAction
from vault.audit.bundle import export_bundle
from vault.audit.entry import format_time
from vault.core.bulk_erase import erase_many
from vault.core.guard import ComplianceGuard
from vault.core.ledger import chunked, replay
from vault.core.retention import RetentionResult
from vault.errors import ConfigurationError, FailedPrecondition, NotFound, VaultError
from vault.types import DeleteResult, RequestContext

if TYPE_CHECKING:
    from vault.core.vault import VaultCore

__all__ = ["SYSTEM_RETENTION", "ComplianceApi", "ComplianceGuard", "ComplianceOps"]

#: Who the scheduled retention job acts as in the log.
SYSTEM_RETENTION = RequestContext(actor="system:retention-scheduler", purpose="retention")
_RECOVERY = RequestContext(actor="system:recovery", purpose="recovery")
_log = logging.getLogger(__name__)


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


class ComplianceOps:
    """The compliance use cases of a core that holds a :class:`ComplianceGuard`.

    Reconciles the log with the store on construction (call it at start-up, before
    serving).

    Raises:
        ConfigurationError: The core has no compliance guard.
    """

    def __init__(self, core: VaultCore) -> None:
        guard = core.compliance
        if guard is None:
            raise ConfigurationError("compliance needs a core wired with a ComplianceGuard")
        self._core = core
        self._guard = guard
        self._reconcile()

    def _reconcile(self) -> None:
        """Record subjects the log lists as enrolled but the store lacks (a crash
        between an enrolment's entries and its commit, or between an erasure's
        commit and its entry)."""
        # On PostgreSQL nothing is ever half-done, but another front-end may commit
        # an act between reading the log and reading the store: holding the log
        # (its lock, caught up) keeps the two readings of one moment.
        with self._guard.log.transaction():
            self._reconcile_now()

    def _reconcile_now(self) -> None:
        core = self._core
        ledgers = replay(self._guard.entries(), track=True)
        for name in sorted(core._collections):
            logged = ledgers[name].pseudonyms if name in ledgers else set()
            stored = {core._pseudonym(name, s.subject_id) for s in core._store.list_subjects(name)}
            absent = sorted(logged - stored)
            if absent:
                _log.warning(
                    "collection %s: %d subject(s) in the audit log are not in the store "
                    "(interrupted enrolment or erasure); recording that",
                    name,
                    len(absent),
                )
                self._append_pseudonyms(AuditAction.RECONCILE_ABSENT, name, _RECOVERY, absent)
            # Logs from before chunked entries count large enrolments without listing
            # them; only more stored subjects than the log counts at all is a fault.
            live = ledgers[name].live - len(absent) if name in ledgers else 0
            if len(stored) > live:
                _log.error(
                    "collection %s: %d stored subject(s) have no enrolment in the audit log "
                    "(run biovault fsck)",
                    name,
                    len(stored) - live,
                )

    def _append_pseudonyms(
        self, action: AuditAction, collection: str, ctx: RequestContext, pseudonyms: list[str]
    ) -> None:
        for listed, chunk in chunked(pseudonyms):
            self._core._append_event(action, collection, ctx, listed, "ok", {**chunk})

    def withdraw_consent(
        self, collection: str, subject_id: str, ctx: RequestContext
    ) -> DeleteResult:
        """Consent withdrawn: erase the subject's template, logged as a withdrawal.

        Raises:
            FailedPrecondition: The consent reference is not the one the subject was
                enrolled under (or none is on record): nothing is erased, and the
                refusal is logged. An erasure request needs no reference: ``delete``.
            NotFound: The subject is not enrolled.
        """
        core = self._core
        ctx = dataclasses.replace(ctx, purpose=ctx.purpose or "consent-withdrawn")
        try:
            self._check_withdrawn_consent(collection, subject_id, ctx)
        except VaultError as refused:  # logged like any withdrawal, with why it failed
            with (
                contextlib.suppress(type(refused)),
                core._audited(
                    AuditAction.CONSENT_WITHDRAW,
                    collection,
                    ctx,
                    [subject_id],
                    consent_ref=ctx.consent_ref,
                ),
            ):
                raise
            raise
        with self._guard.receipts() as receipts:
            result = core._erase(
                collection,
                subject_id,
                ctx,
                action=AuditAction.CONSENT_WITHDRAW,
                consent_ref=ctx.consent_ref,
            )
        [receipted] = receipts.attach([result])
        return receipted

    def _check_withdrawn_consent(
        self, collection: str, subject_id: str, ctx: RequestContext
    ) -> None:
        target, _ = self._core._collection(collection)
        if target.location(subject_id) is None:
            raise NotFound("no such subject in this collection")
        pseudonym = self._core._pseudonym(collection, subject_id)
        enrolled_under = self._guard.enrolled_consent_ref(collection, pseudonym)
        if enrolled_under is None:
            raise FailedPrecondition(
                "no consent reference is on record for this subject; an erasure request "
                "(delete) needs none"
            )
        if ctx.consent_ref != enrolled_under:
            raise FailedPrecondition(
                "the consent reference does not match the one this subject was enrolled "
                "under; nothing was erased"
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
        core = self._core
        ctx = dataclasses.replace(ctx, purpose=ctx.purpose or "retention")
        results: list[RetentionResult] = []
        with core._audited(AuditAction.RETENTION_ENFORCE, collection or "", ctx) as info:
            if collection is not None:
                core._collection(collection)  # validates the name, NotFound if unknown
            names = [collection] if collection is not None else sorted(core._collections)
            for name in names:
                results.append(self._enforce_one(name, ctx))
            info["collections"] = len(results)
            info["erased"] = sum(len(r.erased) for r in results)
        return results

    def _enforce_one(self, name: str, ctx: RequestContext) -> RetentionResult:
        core = self._core
        core._collection(name)  # validates the name, NotFound if unknown
        retention = core._policy(name).retention_seconds
        cutoff = core._clock() - retention
        expired = {
            subject.subject_id: subject.enrolled_at
            for subject in core._store.list_subjects(name)
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
            core,
            name,
            list(expired),
            ctx,
            action=AuditAction.RETENTION_ERASE,
            details_of=details,
            missing_ok=True,
        )
        erased = [result.subject_id for result in done]
        return RetentionResult(name, retention, cutoff, tuple(erased))

    def record_service_start(self, **details: str | int | float | bool) -> None:
        """Log that the service started (with how its audit key was obtained)."""
        system = RequestContext(actor="system:service")
        details["audit_key_id"] = self._guard.log.key_id
        with self._core._audited(AuditAction.SERVICE_START, "", system, (), **details):
            pass

    def record_refused_call(self, rpc: str, error: VaultError, ctx: RequestContext) -> None:
        """Log a call the transport refused (no identity, wrong role); outcome names why."""
        refusal = self._core._audited(AuditAction.ACCESS_REFUSED, "", ctx, rpc=rpc)
        with contextlib.suppress(type(error)), refusal:
            raise error

    # --- audit log access ------------------------------------------------------
    def audit_public_key(self) -> str:
        return self._guard.log.verifier_key

    def audit_checkpoint(self) -> str:
        self._guard.log.sync()  # the latest, also when another front-end appended it
        return self._guard.log.checkpoint()

    def export_audit(self, ctx: RequestContext) -> Iterator[tuple[str, bytes]]:
        """Audit the export first, so the bundle shows who took it."""
        with self._core._audited(AuditAction.AUDIT_EXPORT, "", ctx):
            pass
        return export_bundle(self._guard.log)
