"""Bulk erasure: thousands of subjects (a retention sweep, a batch of requests) at
block cost instead of subject cost.

Erasing one subject rewrites its whole block (dim ciphertexts of N slots) and
purges the WAL; erasing k subjects of the same block one by one would do that k
times. Here the subjects are grouped by block, each block is planned once (every
listed slot padded in one rewrite, or the block dropped when nobody else is left
in it) and committed in one transaction, and then every subject gets its *own*
audit entry (written together in one durable log write) - so receipts stay per
subject. Collections without a bulk planner
(cancelable) fall back to one erasure per subject.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from vault import deadline
from vault.audit.actions import AuditAction
from vault.audit.base import AuditEvent
from vault.errors import InvalidArgument, NotFound, VaultError
from vault.schemes.base import BulkErasing, PlannedBlockErasure
from vault.types import DeleteResult, RequestContext

if TYPE_CHECKING:
    from vault.core.vault import VaultCore

__all__ = ["erase_many"]

Details = Mapping[str, str | int | float | bool]


def erase_many(
    core: VaultCore,
    collection: str,
    subject_ids: Sequence[str],
    ctx: RequestContext,
    *,
    action: AuditAction,
    details_of: Callable[[str], Details] | None = None,
    missing_ok: bool = False,
) -> list[DeleteResult]:
    """Erase ``subject_ids`` (one audit entry each, in order); returns one result each.

    Raises:
        InvalidArgument: A subject id is listed twice (nothing is erased).
        NotFound: A subject is not enrolled and ``missing_ok`` is false (nothing is
            erased; the refusal is audited once).
    """
    details_of = details_of or (lambda subject_id: {})
    if len(set(subject_ids)) != len(subject_ids):
        raise InvalidArgument("the list of subjects to erase names a subject twice")
    core._follower.catch_up(collection)  # another front-end's subjects count too
    target, lock = core._collection(collection)
    present = [s for s in subject_ids if target.location(s) is not None]
    if len(present) != len(subject_ids) and not missing_ok:
        with core._audited(action, collection, ctx, list(subject_ids)):
            missing = len(subject_ids) - len(present)
            raise NotFound(f"{missing} of the listed subjects are not in this collection")
    if not isinstance(target, BulkErasing):
        return [core._erase(collection, s, ctx, action=action, **details_of(s)) for s in present]
    groups: dict[int, list[str]] = {}
    for subject_id in present:
        location = target.location(subject_id)
        assert location is not None
        groups.setdefault(location[0], []).append(subject_id)
    results: list[DeleteResult] = []
    for ids in groups.values():
        outcome, recorded = "ok", False
        try:
            with lock.writer, core._follower.writing(collection):
                fresh, _ = core._collection(collection)  # replaced if it caught up
                assert isinstance(fresh, BulkErasing)
                target = fresh
                ids = [s for s in ids if target.location(s) is not None]  # erased meanwhile
                if not ids:
                    continue
                plan: PlannedBlockErasure
                [plan] = target.plan_bulk_erasure(ids)
                deadline.check("the erasure was stored")
                # On PostgreSQL the entries join the commit's transaction (both or
                # neither); elsewhere they follow it, as a single erasure's do.
                with core._audit.transaction() as joint:
                    core._store.commit_erasures(
                        collection,
                        ids,
                        replacement=plan.replacement,
                        drop_block=plan.block_no if plan.replacement is None else None,
                    )
                    if joint:
                        _audit_each(core, action, collection, ctx, ids, details_of, "ok")
                recorded = joint
                with lock.state:
                    target.apply_bulk_erasure(plan)
        except VaultError as e:
            outcome = type(e).__name__
            raise
        except Exception:
            outcome = "internal_error"
            raise
        finally:
            if not recorded:
                _audit_each(core, action, collection, ctx, ids, details_of, outcome)
        erased_at = core._clock()
        results.extend(DeleteResult(subject_id=s, erased=1, erased_at=erased_at) for s in ids)
    return results


def _audit_each(
    core: VaultCore,
    action: AuditAction,
    collection: str,
    ctx: RequestContext,
    subject_ids: Sequence[str],
    details_of: Callable[[str], Details],
    outcome: str,
) -> None:
    """One entry per subject, as the single erasure writes it - in one durable write
    when the sink can (MerkleAuditLog.append_many: each entry keeps its own signed
    checkpoint, hence its own receipt)."""
    now = core._clock()
    residue = core._store.erasure_residue
    extra: Details = {} if not residue else {"storage_residue": residue}
    events = [
        AuditEvent(
            time=now,
            actor=ctx.actor,
            action=action,
            collection=collection,
            outcome=outcome,
            purpose=ctx.purpose,
            subjects=(core._pseudonym(collection, subject_id),),
            details={**details_of(subject_id), **extra},
        )
        for subject_id in subject_ids
    ]
    append_many = getattr(core._audit, "append_many", None)
    if append_many is not None:
        append_many(events)
    else:
        for event in events:
            core._audit.append(event)
