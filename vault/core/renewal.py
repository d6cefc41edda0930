"""Renewal of cancelable and hybrid collections' transform keys (ISO/IEC 24745).

Renewing starts a new key version: new enrolments use it, templates under older
versions keep matching until they are re-enrolled or revoked. Revoking erases every
older-version template, one audited erasure each, through the core's normal path.
(KEK and DEK *rotation* is another act: vault.keys.rotation.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vault.audit.actions import AuditAction
from vault.errors import FailedPrecondition
from vault.schemes.base import KeyedCollection, ProtectedCollection
from vault.types import RequestContext

if TYPE_CHECKING:  # pragma: no cover
    from vault.core.vault import VaultCore

__all__ = ["TransformRenewal", "keyed_collection", "renew_transform_key"]


@dataclass(frozen=True)
class TransformRenewal:
    """Outcome of ``keys rotate cancelable`` (a renewal of the transform key)."""

    collection: str
    key_version: int
    revoked: int
    templates_by_key_version: dict[int, int]


def keyed_collection(collection: ProtectedCollection[Any, Any]) -> KeyedCollection:
    """The collection as a keyed one, or FailedPrecondition for plain ckks."""
    if not isinstance(collection, KeyedCollection):
        raise FailedPrecondition(
            f"collection '{collection.record.name}' is '{collection.record.mode}': "
            "only cancelable and hybrid collections have transform keys"
        )
    return collection


def renew_transform_key(
    core: VaultCore, collection: str, ctx: RequestContext, *, revoke_old: bool = False
) -> TransformRenewal:
    """Start a new transform key version of ``collection`` (once, however many
    front-ends share the store: under its collection lock); optionally revoke
    (erase) every older-version template."""
    with core._audited(AuditAction.KEYS_ROTATE_CANCELABLE, collection, ctx) as details:
        _, lock = core._collection(collection)
        with lock.writer, core._follower.writing(collection):
            target, _ = core._collection(collection)  # replaced if it caught up
            keyed = keyed_collection(target)
            version = keyed.transform_keys.renew()
        details["key_version"] = version
        old = keyed.subjects_before(version) if revoke_old else []
    for subject_id in old:
        _revoke(core, collection, subject_id, ctx, key_version=version)
    return TransformRenewal(collection, version, len(old), keyed.counts_by_version())


def _revoke(
    core: VaultCore, collection: str, subject_id: str, ctx: RequestContext, **details: int
) -> None:
    """Erase one older-version template (its own audit event, like a delete)."""
    residue = core._store.erasure_residue
    extra = {} if not residue else {"storage_residue": residue}
    audited = core._trail.audited_change(
        AuditAction.KEYS_REVOKE, collection, ctx, [subject_id], **details, **extra
    )
    with audited as change:
        if not core._erase_one(collection, subject_id, change.committing):
            change.details["erased"] = 0  # erased meanwhile: the log must not count it twice
