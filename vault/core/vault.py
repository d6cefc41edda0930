"""The vault's use cases, wired from interfaces: store, key set, audit sink.

Order inside every use case: validate (no crypto yet) -> plan (crypto, nothing
visible) -> commit to the store (atomic) -> apply in memory -> audit. A failure
before the commit changes nothing; the audit entry records the outcome either way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from vault import deadline
from vault.audit.base import AuditEvent, AuditSink
from vault.core.datakeys import CollectionDataKeys, key_data
from vault.core.disclosure import config_with_disclosure, disclosure_of
from vault.core.group_commit import EnrollmentQueue
from vault.core.protection import (
    check_mode,
    load_profile,
    open_collection,
    prepare_transform_keys,
    profile_meta_key,
    spec_profile,
)
from vault.core.renewal import TransformRotation, keyed_collection
from vault.core.requests import (
    check_collection_name,
    check_consent,
    check_purpose,
    check_purposes,
    check_subject_ids,
    check_top_k,
)
from vault.core.retention import config_with_retention, retention_of
from vault.core.transform_seeds import SeedSource
from vault.core.verify_budget import FailedVerifyBudget
from vault.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, VaultError
from vault.he.keyset import CkksKeySet
from vault.keys.datakey import DataKey
from vault.keys.sealing import BlobSealer
from vault.schemes.base import ProtectedCollection
from vault.schemes.validation import validate_templates
from vault.store.base import CollectionRecord, TemplateStore
from vault.types import (
    CollectionInfo,
    CollectionSpec,
    DeleteResult,
    Match,
    ProtectionMode,
    RequestContext,
    VerifyResult,
)

__all__ = ["VaultCore"]

log = logging.getLogger(__name__)
_MAX_LISTED_SUBJECTS = 1000
_MAX_DIM = 8192


class _CollectionLocks:
    """Writers (enrol, erase) serialise on ``writer`` and do their slow work -
    encryption, the store commit - holding only it; ``state`` guards the in-memory
    gallery and is held by readers while they score and by writers only while they
    apply a committed change, so identification keeps running during enrolment."""

    def __init__(
        self,
        *,
        taken: Callable[[Sequence[str]], list[str]],
        commit: Callable[[list[str], np.ndarray], None],
    ) -> None:
        self.writer = threading.Lock()
        self.state = threading.RLock()
        self.enrollments = EnrollmentQueue(taken, commit, self.writer)


class VaultCore:
    """Transport-free implementation of :class:`vault.core.api.VaultApi`."""

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
    ) -> None:
        self._store = store
        # Locks out a caller's repeated failed verifications of one subject (hill-climbing).
        self._verify_budget = verify_budget or FailedVerifyBudget()
        self._keyset = keyset
        self._audit = audit
        self._pseudonym_key = pseudonym_key
        # Per-collection DEKs that seal blocks at rest (None: bare blocks, for
        # in-process tools without a key service).
        self._data_keys = data_keys
        # Seeds of the cancelable/hybrid transforms (None: those modes are refused).
        self._transform_seeds = transform_seeds
        self._key_service_available = key_service_available
        self._clock = clock
        self._collections: dict[str, ProtectedCollection] = {}
        self._locks: dict[str, _CollectionLocks] = {}
        self._registry_lock = threading.Lock()
        for record in store.list_collections():
            self._open(record)

    # --- plumbing -------------------------------------------------------------
    def _open(self, record: CollectionRecord) -> ProtectedCollection:
        collection = open_collection(
            record,
            keyset=self._keyset,
            seeds=self._transform_seeds,
            sealer=self._sealer(record.name),
            profile=load_profile(self._store, record),
        )
        # Stream blocks one at a time: materialising them all would double peak memory.
        collection.load(
            self._store.iter_blocks(record.name), self._store.list_subjects(record.name)
        )
        self._collections[record.name] = collection
        self._locks[record.name] = _CollectionLocks(
            taken=lambda ids: [s for s in ids if collection.location(s) is not None],
            commit=lambda ids, units: self._commit_enrollment(record.name, ids, units),
        )
        log.info("loaded collection %s (%d templates)", record.name, collection.size)
        return collection

    def _sealer(self, name: str) -> BlobSealer | None:
        return None if self._data_keys is None else self._data_keys.sealer(name)

    def _commit_enrollment(self, name: str, subject_ids: list[str], units: np.ndarray) -> None:
        """Encrypt or transform, store, then show one enrolment (writer lock held)."""
        target, lock = self._collection(name)
        plan = target.plan_enrollment(subject_ids, units, enrolled_at=self._clock())
        self._store.commit_enrollment(name, plan.blocks, plan.subjects)
        with lock.state:
            target.apply_enrollment(plan)

    def _discard_material_of_uncreated(self, name: str) -> None:
        """Undo what a refused create stored, so no orphan wrapped key or profile stays."""
        try:
            if self._store.get_collection(name) is not None:
                return  # created after all (or by someone else): its keys are in use
            if self._data_keys is not None:
                self._data_keys.discard(name)
            if self._transform_seeds is not None:
                self._transform_seeds.discard(name)
            key_data(self._store).delete_meta(profile_meta_key(name))
        except Exception:  # the original error matters more; a retry reuses leftovers
            log.exception("could not remove the keys of refused collection %s", name)

    def _collection(self, name: str) -> tuple[ProtectedCollection, _CollectionLocks]:
        check_collection_name(name)
        try:
            return self._collections[name], self._locks[name]
        except KeyError:
            raise NotFound(f"unknown collection '{name}'") from None

    def _pseudonym(self, collection: str, subject_id: str) -> str:
        return self._pseudonym_key.mac(f"{collection}\x00{subject_id}".encode())[:16].hex()

    @contextmanager
    def _audited(
        self,
        action: str,
        collection: str,
        ctx: RequestContext,
        subjects: Sequence[str] = (),
        **details: str | int | float | bool,
    ) -> Iterator[dict[str, str | int | float | bool]]:
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
            listed = subjects if len(subjects) <= _MAX_LISTED_SUBJECTS else ()
            self._audit.append(
                AuditEvent(
                    time=self._clock(),
                    actor=ctx.actor,
                    action=action,
                    collection=collection,
                    outcome=outcome,
                    purpose=ctx.purpose,
                    subjects=tuple(self._pseudonym(collection, s) for s in listed),
                    details=details,
                )
            )

    @staticmethod
    def _info(collection: ProtectedCollection) -> CollectionInfo:
        r = collection.record
        profile = getattr(collection, "profile", None)  # keyed collections only
        return CollectionInfo(
            name=r.name,
            mode=ProtectionMode(r.mode),
            dim=r.dim,
            allow_identification=r.allow_identification,
            purposes=r.purposes,
            match_threshold=r.match_threshold,
            size=collection.size,
            created_at=r.created_at,
            retention_seconds=retention_of(r),
            score_decimals=disclosure_of(r).score_decimals,
            max_top_k=disclosure_of(r).max_top_k,
            decision_only=disclosure_of(r).decision_only,
            embedding_profile_sha256=profile.digest() if profile is not None else "",
        )

    # --- use cases ------------------------------------------------------------
    def create_collection(self, spec: CollectionSpec, ctx: RequestContext) -> CollectionInfo:
        with self._audited(
            "collection.create",
            spec.name,
            ctx,
            mode=spec.mode.value,
            dim=spec.dim,
            purposes=",".join(spec.purposes),
            identification=spec.allow_identification,
        ) as details:
            check_collection_name(spec.name)
            check_purposes(spec.purposes)
            config_json = config_with_disclosure(
                config_with_retention("{}", spec.retention_seconds),
                score_decimals=spec.score_decimals,
                max_top_k=spec.max_top_k,
                decision_only=spec.decision_only,
            )
            details["retention_seconds"] = retention_of(config_json)
            if not 1 <= spec.dim <= _MAX_DIM:
                raise InvalidArgument(f"dimension must be between 1 and {_MAX_DIM}")
            check_mode(spec, self._keyset, self._transform_seeds)
            profile = spec_profile(spec)
            if profile is not None:
                details["embedding_profile_sha256"] = profile.digest()
            elif spec.mode is ProtectionMode.CANCELABLE:
                log.warning(
                    "cancelable collection %s has no embedding profile: a key holder with "
                    "face data could pick its templates out of their orbits "
                    "(docs/protection.md)",
                    spec.name,
                )
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
                config_json=config_json,
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
                    self._store.create_collection(record)
                except BaseException:
                    self._discard_material_of_uncreated(spec.name)
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
        with self._audited(
            "enroll",
            collection,
            ctx,
            subject_ids,
            count=len(subject_ids),
            consent_ref=ctx.consent_ref,
            legal_basis=ctx.legal_basis,
        ):
            target, lock = self._collection(collection)
            check_consent(ctx)
            check_purpose(ctx.purpose, target.record.purposes)
            units = validate_templates(templates, target.record.dim)
            check_subject_ids(subject_ids, len(units))
            lock.enrollments.submit(subject_ids, units)  # group commit, see group_commit.py
            return len(subject_ids)

    def verify(
        self, collection: str, subject_id: str, template: np.ndarray, ctx: RequestContext
    ) -> VerifyResult:
        with self._audited("verify", collection, ctx, [subject_id]) as details:
            target, lock = self._collection(collection)
            check_purpose(ctx.purpose, target.record.purposes)
            probe = validate_templates(template, target.record.dim, what="probe")
            if len(probe) != 1:
                raise InvalidArgument("verify takes exactly one probe")
            self._verify_budget.check(ctx.actor, collection, subject_id)
            with lock.state:
                deadline.check("scoring")
                if target.location(subject_id) is None:
                    # Same answer shape as a mismatch: callers can't probe for ids.
                    details["decision"] = "no_match"
                    self._verify_budget.record(ctx.actor, collection, subject_id, matched=False)
                    return disclosure_of(target.record).verify(VerifyResult(False, 0.0))
                score = target.verify_score(subject_id, probe[0])
            match = score >= target.record.match_threshold
            self._verify_budget.record(ctx.actor, collection, subject_id, matched=match)
            details["decision"] = "match" if match else "no_match"
            return disclosure_of(target.record).verify(VerifyResult(match=match, score=score))

    def identify(
        self, collection: str, probes: np.ndarray, top_k: int, ctx: RequestContext
    ) -> list[list[Match]]:
        with self._audited("identify", collection, ctx, top_k=top_k) as details:
            target, lock = self._collection(collection)
            if not target.record.allow_identification:
                raise FailedPrecondition(f"1:N identification is not enabled for '{collection}'")
            check_purpose(ctx.purpose, target.record.purposes)
            check_top_k(top_k)
            units = validate_templates(probes, target.record.dim, what="probes")
            details["probes"] = len(units)
            policy = disclosure_of(target.record)
            with lock.state:
                deadline.check("scoring")
                return policy.matches(target.identify(units, policy.top_k(top_k)))

    def encrypted_scores_for_evaluation(
        self, collection: str, probes: np.ndarray
    ) -> tuple[list[str], np.ndarray]:
        """All decrypted scores of every live subject - for in-process benchmarks and
        evaluation only. Deliberately absent from VaultApi and the gRPC surface:
        exact score vectors must not leave the enclave."""
        target, lock = self._collection(collection)
        units = validate_templates(probes, target.record.dim, what="probes")
        with lock.state:
            return target.all_scores(units)

    def delete(self, collection: str, subject_id: str, ctx: RequestContext) -> DeleteResult:
        return self._erase(collection, subject_id, ctx, action="delete")

    def delete_many(
        self, collection: str, subject_ids: Sequence[str], ctx: RequestContext
    ) -> list[DeleteResult]:
        """Bulk erasure (one audit entry per subject, one rewrite per block touched)."""
        from vault.core.bulk_erase import erase_many

        return erase_many(self, collection, subject_ids, ctx, action="delete")

    def _erase(
        self,
        collection: str,
        subject_id: str,
        ctx: RequestContext,
        *,
        action: str,
        **details: str | int | float | bool,
    ) -> DeleteResult:
        """Erase one subject, audited under ``action`` (delete, consent withdrawal,
        retention expiry) with ``details``."""
        with self._audited(action, collection, ctx, [subject_id], **details):
            if not self._erase_one(collection, subject_id):
                raise NotFound("no such subject in this collection")
            return DeleteResult(subject_id=subject_id, erased=1, erased_at=self._clock())

    def _erase_one(self, collection: str, subject_id: str) -> bool:
        """Erase a subject's template durably, then in memory; False if it is not enrolled."""
        target, lock = self._collection(collection)
        with lock.writer:
            if target.location(subject_id) is None:
                return False
            plan = target.plan_erasure(subject_id)
            deadline.check("the erasure was stored")
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
    def rotate_transform_key(
        self, collection: str, ctx: RequestContext, *, revoke_old: bool = False
    ) -> TransformRotation:
        """Start a new transform key version; optionally erase older-version templates."""
        with self._audited("keys.rotate.cancelable", collection, ctx) as details:
            target, lock = self._collection(collection)
            keyed = keyed_collection(target)
            with lock.writer:
                version = keyed.transform_keys.rotate()
            details["key_version"] = version
            old = keyed.subjects_before(version) if revoke_old else []
        for subject_id in old:
            self._revoke(collection, subject_id, ctx, key_version=version)
        return TransformRotation(collection, version, len(old), keyed.counts_by_version())

    def _revoke(
        self, collection: str, subject_id: str, ctx: RequestContext, **details: int
    ) -> None:
        """Erase one older-version template (its own audit event, like a delete)."""
        with self._audited("keys.revoke", collection, ctx, [subject_id], **details):
            self._erase_one(collection, subject_id)  # False: erased meanwhile

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
