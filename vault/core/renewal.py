"""Renewal of cancelable and hybrid collections' transform keys (ISO/IEC 24745).

Renewing starts a new key version: new enrolments use it, templates under older
versions keep matching until they are re-enrolled or revoked. Revoking erases every
older-version template, one audited erasure each, through the core's normal path.
(KEK and DEK *rotation* is another act: vault.keys.rotation.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vault.errors import FailedPrecondition
from vault.schemes.base import KeyedCollection, ProtectedCollection

__all__ = ["TransformRenewal", "keyed_collection"]


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
