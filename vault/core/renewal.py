"""Renewal of cancelable and hybrid collections' transform keys (ISO/IEC 24745).

Rotating starts a new key version: new enrolments use it, templates under older
versions keep matching until they are re-enrolled or revoked. Revoking erases every
older-version template, one audited erasure each, through the core's normal path.
"""

from __future__ import annotations

from dataclasses import dataclass

from vault.errors import FailedPrecondition
from vault.schemes.base import ProtectedCollection
from vault.schemes.cancelable import CancelableCollection
from vault.schemes.hybrid import HybridCollection

__all__ = ["TransformRotation", "keyed_collection"]


@dataclass(frozen=True)
class TransformRotation:
    """Outcome of ``keys rotate cancelable``."""

    collection: str
    key_version: int
    revoked: int
    templates_by_key_version: dict[int, int]


def keyed_collection(
    collection: ProtectedCollection,
) -> CancelableCollection | HybridCollection:
    """The collection as a keyed one, or FailedPrecondition for plain ckks."""
    if not isinstance(collection, CancelableCollection | HybridCollection):
        raise FailedPrecondition(
            f"collection '{collection.record.name}' is '{collection.record.mode}': "
            "only cancelable and hybrid collections have transform keys"
        )
    return collection
