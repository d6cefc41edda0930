"""The vault's use cases, wired from interfaces: store, key set, audit sink.

Order inside every use case: validate (no crypto yet) -> plan (crypto, nothing
visible) -> commit to the store (atomic) -> apply in memory -> audit. A failure
before the commit changes nothing; the audit entry records the outcome either way.
Enrolment writes its entries *before* the store commit (vault/core/ledger.py), so
a crash can never leave a stored subject that the log does not list.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np

from vault import deadline
from vault.audit.actions import AuditAction
from vault.audit.base import AuditSink
from vault.core.disclosure import Disclosure
from vault.core.follow import StoreFollower
from vault.core.guard import ComplianceGuard, NoCompliance
from vault.core.locks import CollectionLocks
from vault.core.matching import above_threshold, decoy_score
from vault.core.protection import (
    check_mode,
    collection_info,
    discard_uncreated,
    load_profile,
    open_collection,
    prepare_transform_keys,
    profile_meta_key,
    spec_profile,
)
from vault.core.renewal import TransformRenewal, keyed_collection, renew_transform_key
from vault.core.requests import (
    check_collection_name,
    check_consent,
    check_purpose,
    check_purposes,
    check_subject_ids,
    check_top_k,
)
from vault.core.trail import AuditTrail, Details, check_joint
from vault.core.verify_budget import FailedVerifyBudget, UnmatchedProbeBudget
from vault.errors import (
    AlreadyExists,
    ConfigurationError,
    FailedPrecondition,
    IntegrityError,
    InvalidArgument,
    NotFound,
    VaultError,
)
from vault.he.engine import GalleryEngineFactory
from vault.he.keyset import CkksKeySet
from vault.keys.datakey import DataKey
from vault.keys.datakeys import CollectionDataKeys
from vault.keys.sealing import BlobSealer
from vault.schemes.base import (
    PlannedEnrollment,
    PlannedErasure,
    ProtectedCollection,
)
from vault.schemes.seeds import SeedSource
from vault.schemes.validation import validate_templates
from vault.store.base import CollectionRecord, TemplateStore
from vault.types import (
    CollectionInfo,
    CollectionPolicy,
    CollectionSpec,
    DeleteResult,
    IdentifyResult,
    RequestContext,
    VerifyResult,
)

__all__ = ["VaultCore"]

log = logging.getLogger(__name__)
_MAX_DIM = 8192


class VaultCore:
    """Transport-free implementation of :class:`vault.core.api.VaultApi`.

    ``compliance``: the served vault's receipts, a :class:`~vault.core.guard.ComplianceGuard`
    over ``audit`` (ConfigurationError otherwise); None for in-process tools and unit
    tests, whose erasures carry no receipt.
    """

    def __init__(
        self,
        *,
        store: TemplateStore,
        keyset: CkksKeySet,
        audit: AuditSink,
        pseudonym_key: DataKey,
        data_keys: CollectionDataKeys | None = None,
        transform_seeds: SeedSource | None = None,
        key_service_available: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.time,
        verify_budget: FailedVerifyBudget | None = None,
        identify_budget: UnmatchedProbeBudget | None = None,
        compliance: ComplianceGuard | None = None,
        gallery_engines: GalleryEngineFactory | None = None,
        follow_store: bool = False,
    ) -> None:
        if compliance is not None and compliance.log is not audit:
            raise ConfigurationError("the compliance guard must hold the core's own audit log")
        check_joint(audit, store)
        self._compliance: ComplianceGuard | NoCompliance = compliance or NoCompliance()
        self._store = store
        # Where encrypted blocks live and are scored: this process (None) or the
        # shards of a cluster (vault.cluster), chosen where the service is wired.
        self._gallery_engines = gallery_engines
        # Locks out a caller's repeated failed verifications of one subject (hill-climbing).
        self._verify_budget = verify_budget or FailedVerifyBudget()
        # Caps a caller's unmatched Identify probes per collection (the same climb, 1:N).
        self._identify_budget = identify_budget or UnmatchedProbeBudget()
        #: Verifications of unknown ids scored against a decoy (observable in tests).
        self.decoy_scorings = 0
        self._keyset = keyset
        self._audit = audit
        self._trail = AuditTrail(audit, pseudonym_key, clock)
        self._pseudonym = self._trail.pseudonym
        self._audited = self._trail.audited
        self._append_listed = self._trail.append_listed
        self._append_event = self._trail.append_event
        # Per-collection DEKs that seal blocks at rest (None: bare blocks, for
        # in-process tools without a key service).
        self._data_keys = data_keys
        # Seeds of the cancelable/hybrid transforms (None: those modes are refused).
        self._transform_seeds = transform_seeds
        self._key_service_available = key_service_available
        self._clock = clock
        # Collections of every scheme side by side: each one's plans only ever go
        # back to it, so the registry needs no plan types.
        self._collections: dict[str, ProtectedCollection[Any, Any]] = {}
        self._locks: dict[str, CollectionLocks] = {}
        # Each collection's policy, parsed once from its record when it loads (or
        # why it could not be: that collection's requests fail, the others serve).
        self._policies: dict[str, CollectionPolicy | IntegrityError] = {}
        self._registry_lock = threading.Lock()
        # Other front-ends write this store too (vault/core/follow.py): follow them.
        self._follower = StoreFollower(self, store, enabled=follow_store)
        for record in store.list_collections():
            self._open(record)

    @property
    def compliance(self) -> ComplianceGuard | None:
        """The compliance component wired in (vault.core.compliance builds on it)."""
        return self._compliance if isinstance(self._compliance, ComplianceGuard) else None

    # --- plumbing -------------------------------------------------------------
    def _open(
        self, record: CollectionRecord, *, replace: bool = False
    ) -> ProtectedCollection[Any, Any]:
        policy: CollectionPolicy | IntegrityError
        try:
            policy = CollectionPolicy.from_json(record.config_json)
        except IntegrityError as error:
            log.error("collection %s: %s", record.name, error)
            policy = error
        collection = open_collection(
            record,
            keyset=self._keyset,
            seeds=self._transform_seeds,
            sealer=self._sealer(record.name),
            profile=load_profile(self._store, record),
            engines=self._gallery_engines,
        )
        # Stream blocks one at a time: materialising them all would double peak memory.
        generation = self._follower.generation(record.name)
        subjects = self._store.list_subjects(record.name)
        collection.load(self._follower.blocks(record.name, generation), subjects)
        if replace:  # caught up with another front-end's change: same locks, new state
            with self._locks[record.name].state:
                self._collections[record.name], self._policies[record.name] = collection, policy
            self._locks[record.name].decoys.add(s.subject_id for s in subjects)
            return collection
        self._collections[record.name] = collection
        self._policies[record.name] = policy
        self._locks[record.name] = CollectionLocks(
            taken=lambda ids: [s for s in ids if self._collections[record.name].location(s)],
            commit=self._follower.committing(record.name, self._commit_enrollment),
        )
        self._locks[record.name].decoys.add(s.subject_id for s in subjects)
        log.info("loaded collection %s (%d templates)", record.name, collection.size)
        return collection

    def _sealer(self, name: str) -> BlobSealer | None:
        return None if self._data_keys is None else self._data_keys.sealer(name)

    def _commit_enrollment(
        self,
        name: str,
        subject_ids: list[str],
        units: np.ndarray,
        requests: list[tuple[Any, list[str]]],
    ) -> None:
        """Encrypt or transform, audit, store, then show one enrolment (writer lock held);
        the entries and the commit as :meth:`AuditTrail.enrolment` orders them."""
        target, lock = self._collection(name)
        plan: PlannedEnrollment = target.plan_enrollment(
            subject_ids, units, enrolled_at=self._clock()
        )

        def commit() -> None:
            deadline.check("the enrolment was stored")
            self._store.commit_enrollment(name, plan.blocks, plan.subjects)

        self._trail.enrolment(name, requests, commit)
        with lock.state:
            target.apply_enrollment(plan)
        lock.decoys.add(subject_ids)

    def _collection(self, name: str) -> tuple[ProtectedCollection[Any, Any], CollectionLocks]:
        check_collection_name(name)
        try:
            return self._collections[name], self._locks[name]
        except KeyError:
            if self._follower.discover(name):  # created by another front-end
                return self._collections[name], self._locks[name]
            raise NotFound(f"unknown collection '{name}'") from None

    def _policy(self, name: str) -> CollectionPolicy:
        """The loaded collection's policy (cached when it loaded: no parsing here).

        Raises:
            IntegrityError: Its stored policy is malformed (fsck names it).
        """
        policy = self._policies[name]
        if isinstance(policy, IntegrityError):
            raise IntegrityError(str(policy))
        return policy

    def _info(self, collection: ProtectedCollection[Any, Any]) -> CollectionInfo:
        return collection_info(collection, self._policy(collection.record.name))

    # --- use cases ------------------------------------------------------------
    def create_collection(self, spec: CollectionSpec, ctx: RequestContext) -> CollectionInfo:
        with self._trail.audited_change(
            AuditAction.COLLECTION_CREATE,
            spec.name,
            ctx,
            mode=spec.mode.value,
            dim=spec.dim,
            purposes=",".join(spec.purposes),
            identification=spec.allow_identification,
        ) as change:
            details = change.details
            check_collection_name(spec.name)
            check_purposes(spec.purposes)
            policy = spec.policy.check()
            details["retention_seconds"] = float(policy.retention_seconds)
            if not 1 <= spec.dim <= _MAX_DIM:
                raise InvalidArgument(f"dimension must be between 1 and {_MAX_DIM}")
            check_mode(spec, self._keyset, self._transform_seeds)
            profile = spec_profile(spec)
            if profile is not None:
                details["embedding_profile_sha256"] = profile.digest()
            if not -1.0 <= spec.match_threshold <= 1.0:
                raise InvalidArgument("match threshold must be a cosine score in [-1, 1]")
            record = CollectionRecord(
                name=spec.name,
                mode=spec.mode.value,
                dim=spec.dim,
                params_id=self._keyset.params.params_id,
                allow_identification=spec.allow_identification,
                purposes=tuple(spec.purposes),
                match_threshold=spec.match_threshold,
                created_at=self._clock(),
                config_json=policy.to_json(),
            )
            with self._registry_lock:
                if spec.name in self._collections:
                    raise AlreadyExists(f"collection '{spec.name}' already exists")
                try:
                    self._sealer(spec.name)  # its data key exists before the collection does
                    prepare_transform_keys(record, self._transform_seeds)
                    if profile is not None:
                        self._store.put_meta(  # a leftover of a crashed create is replaced
                            profile_meta_key(spec.name), spec.embedding_profile, overwrite=True
                        )
                    deadline.check("the collection was stored")
                    with change.committing():  # PostgreSQL: the entry commits with it
                        self._store.create_collection(record)
                except BaseException:
                    discard_uncreated(
                        self._store, spec.name, self._data_keys, self._transform_seeds
                    )
                    raise
                return self._info(self._open(record))

    def get_collection(self, name: str, ctx: RequestContext) -> CollectionInfo:
        collection, _ = self._collection(name)
        return self._info(collection)

    def enroll(
        self,
        collection: str,
        subject_ids: Sequence[str],
        templates: np.ndarray,
        ctx: RequestContext,
    ) -> int:
        subject_ids = list(subject_ids)
        details: Details = {
            "count": len(subject_ids),
            "consent_ref": ctx.consent_ref,
            "legal_basis": ctx.legal_basis,
        }
        try:
            target, lock = self._collection(collection)
            check_consent(ctx)
            check_purpose(ctx.purpose, target.record.purposes)
            units = validate_templates(templates, target.record.dim)
            check_subject_ids(subject_ids, len(units))
            # Group commit (group_commit.py); the "ok" entries are written inside it,
            # in the store commit's transaction or before it (AuditTrail.enrolment).
            lock.enrollments.submit(subject_ids, units, (ctx, details))
            return len(subject_ids)
        except BaseException as error:
            outcome = type(error).__name__ if isinstance(error, VaultError) else "internal_error"
            self._append_event(
                AuditAction.ENROLL,
                collection,
                ctx,
                self._trail.named(collection, subject_ids),
                outcome,
                details,
            )
            raise

    def verify(
        self, collection: str, subject_id: str, template: np.ndarray, ctx: RequestContext
    ) -> VerifyResult:
        with self._audited(AuditAction.VERIFY, collection, ctx, [subject_id]) as details:
            self._follower.catch_up(collection)
            target, lock = self._collection(collection)
            check_purpose(ctx.purpose, target.record.purposes)
            probe = validate_templates(template, target.record.dim, what="probe")
            if len(probe) != 1:
                raise InvalidArgument("verify takes exactly one probe")
            self._verify_budget.check(ctx.actor, collection, subject_id)
            threshold = target.record.match_threshold
            with lock.state:
                deadline.check("scoring")
                if target.location(subject_id) is None:
                    # Scored like a mismatch, against a decoy (matching.py): callers
                    # can't tell unknown ids by answer, score or time.
                    score = self._decoy_score(collection, subject_id, probe[0], threshold)
                else:
                    score = target.verify_score(subject_id, probe[0])
            match = score >= threshold
            self._verify_budget.record(ctx.actor, collection, subject_id, matched=match)
            details["decision"] = "match" if match else "no_match"
            return Disclosure.of(self._policy(collection)).verify(
                VerifyResult(match=match, score=score)
            )

    def _decoy_score(
        self, collection: str, subject_id: str, probe: np.ndarray, threshold: float
    ) -> float:
        """A never-matching score against the unknown id's decoys (state lock held)."""
        target, lock = self._collection(collection)
        self.decoy_scorings += 1
        seed = self._trail.keyed_seed(f"decoy\x00{collection}\x00{subject_id}")
        below = threshold - 10.0 ** -self._policy(collection).score_decimals
        return decoy_score(target, lock.decoys, seed, probe, threshold=threshold, below=below)

    def identify(
        self, collection: str, probes: np.ndarray, top_k: int, ctx: RequestContext
    ) -> IdentifyResult:
        """Candidates at or above the match threshold, best first, per probe.

        The rate limit (per probe, in the transport) and the unmatched-probe budget
        (here) charge every probe of the call, not the call.
        """
        with self._audited(AuditAction.IDENTIFY, collection, ctx, top_k=top_k) as details:
            self._follower.catch_up(collection)
            target, lock = self._collection(collection)
            if not target.record.allow_identification:
                raise FailedPrecondition(f"1:N identification is not enabled for '{collection}'")
            check_purpose(ctx.purpose, target.record.purposes)
            check_top_k(top_k)
            units = validate_templates(probes, target.record.dim, what="probes")
            details["probes"] = len(units)
            policy = Disclosure.of(self._policy(collection))
            self._identify_budget.check(ctx.actor, collection, len(units))
            with lock.state:
                deadline.check("scoring")
                found = above_threshold(
                    target.identify(units, policy.top_k(top_k)), target.record.match_threshold
                )
            unmatched = sum(1 for row in found if not row)
            self._identify_budget.record(ctx.actor, collection, unmatched)
            details["unmatched"] = unmatched
            capped = policy.top_k(top_k) < top_k
            details["top_k_capped"] = capped
            return IdentifyResult(policy.matches(found), top_k_capped=capped)

    def delete(self, collection: str, subject_id: str, ctx: RequestContext) -> DeleteResult:
        """Erase a subject on request.

        With compliance wired (the served vault), a request naming no purpose is
        logged as an ``erasure-request`` and the result carries the erasure's
        receipt: entry, inclusion proof, signed checkpoint (vault.core.guard).
        """
        ctx = self._compliance.erasure_request(ctx)
        with self._compliance.receipts() as receipts:
            result = self._erase(collection, subject_id, ctx, action=AuditAction.DELETE)
        [result] = receipts.attach([result])
        return result

    def delete_many(
        self, collection: str, subject_ids: Sequence[str], ctx: RequestContext
    ) -> list[DeleteResult]:
        """Bulk erasure on request, as :meth:`delete` for each subject (one audit entry
        and receipt each) but one rewrite per block touched (vault.core.bulk_erase)."""
        from vault.core.bulk_erase import erase_many

        ctx = self._compliance.erasure_request(ctx)
        with self._compliance.receipts() as receipts:
            results = erase_many(self, collection, subject_ids, ctx, action=AuditAction.DELETE)
        return receipts.attach(results)

    def _erase(
        self,
        collection: str,
        subject_id: str,
        ctx: RequestContext,
        *,
        action: AuditAction,
        **details: str | int | float | bool,
    ) -> DeleteResult:
        """Erase one subject, audited under ``action`` (delete, consent withdrawal,
        retention expiry) with ``details``."""
        if self._store.erasure_residue:  # the receipt must not claim more than the store did
            details = {**details, "storage_residue": self._store.erasure_residue}
        with self._trail.audited_change(action, collection, ctx, [subject_id], **details) as change:
            if not self._erase_one(collection, subject_id, change.committing):
                raise NotFound("no such subject in this collection")
            return DeleteResult(subject_id=subject_id, erased=1, erased_at=self._clock())

    def _erase_one(
        self,
        collection: str,
        subject_id: str,
        committing: Callable[[], AbstractContextManager[None]] = nullcontext,
    ) -> bool:
        """Erase a subject's template durably, then in memory; False if it is not enrolled.

        ``committing`` is the scope of the store commit (its audit entry may join it).
        """
        _, lock = self._collection(collection)
        with lock.writer, self._follower.writing(collection):
            target, _ = self._collection(collection)  # replaced if it caught up
            if target.location(subject_id) is None:
                return False
            plan: PlannedErasure = target.plan_erasure(subject_id)
            deadline.check("the erasure was stored")
            with committing():
                self._store.commit_erasure(
                    collection,
                    subject_id,
                    replacement=plan.replacement,
                    drop_block=plan.block_no if plan.replacement is None else None,
                )
            with lock.state:
                target.apply_erasure(plan)
        return True

    # --- renewal of transform keys (cancelable, hybrid) -------------------------
    def renew_transform_key(
        self, collection: str, ctx: RequestContext, *, revoke_old: bool = False
    ) -> TransformRenewal:
        """Start a new transform key version; optionally erase older-version templates."""
        return renew_transform_key(self, collection, ctx, revoke_old=revoke_old)

    def transform_key_status(self, collection: str) -> dict[int, int]:
        """Live templates per transform key version of a keyed collection."""
        target, lock = self._collection(collection)
        with lock.state:
            return keyed_collection(target).counts_by_version()

    def collection_sizes(self) -> dict[str, int]:
        """Enrolled templates per collection (for metrics; names only, no subject ids)."""
        return {name: collection.size for name, collection in list(self._collections.items())}

    def is_serving(self) -> bool:
        return self._key_service_available()
