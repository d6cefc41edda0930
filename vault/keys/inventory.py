"""Every KEK-wrapped key a data directory holds, as KEK rotation and key status see it.

KEK rotation must rewrap *all* of them before old KEK versions may be retired.
The list comes from the key catalog (:mod:`vault.keys.catalog`), which declares
each secret kind's stored layout - nothing is found by sniffing bytes - so a
secret stored through the catalog cannot slip past rotation. Rewrapping replaces
only the wrapped DEK inside a record, compare-and-swap.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from vault.blob import HEADER_SIZE, BlobHeader
from vault.errors import IntegrityError, KeyServiceError
from vault.keys.base import KeyService
from vault.keys.catalog import KeyCatalog, SecretKind, SecretRecord, key_data
from vault.store.base import TemplateStore

__all__ = ["WrappedEntry", "blobs_by_kek_version", "replace_wrapped", "scan_wrapped"]


@dataclass(frozen=True)
class WrappedEntry:
    """One stored KEK-wrapped key (safe to log: a wrapped key reveals nothing)."""

    record: SecretRecord
    kek_version: int

    @property
    def wrapped(self) -> str:
        return self.record.wrapped

    @property
    def collection_dek(self) -> tuple[str, int] | None:
        """``(collection, DEK version)`` if this is a collection's DEK."""
        if self.record.kind is SecretKind.DATA_KEY:
            return self.record.owner, self.record.slot
        return None


def scan_wrapped(store: TemplateStore, keys: KeyService) -> list[WrappedEntry]:
    """Every wrapped key in the catalog, in kind and key order (damaged ones skipped)."""
    found = []
    for record in KeyCatalog(store, keys).records():
        try:
            found.append(WrappedEntry(record, keys.wrapped_key_version(record.wrapped)))
        except (IntegrityError, KeyServiceError):
            continue
    return found


def replace_wrapped(
    store: TemplateStore, entry: WrappedEntry, new_wrapped: str, keys: KeyService
) -> bool:
    """Swap ``entry``'s wrapped key for ``new_wrapped`` (the same DEK, rewrapped).

    Returns:
        True if replaced; False if the stored value changed since it was scanned.
    """
    return KeyCatalog(store, keys).rewrap(entry.record, new_wrapped)


def blobs_by_kek_version(
    store: TemplateStore, entries: list[WrappedEntry], collections: list[str]
) -> tuple[Counter[int], dict[str, Counter[int]]]:
    """Count protected blobs by the KEK version that (through their DEK) protects them.

    A sealed block counts under the KEK version of its collection's DEK of the
    version named in its header; every other wrapped entry (an envelope or a bare
    key such as the pseudonym key) counts once. A block whose DEK version is not
    stored counts under KEK version 0 (it cannot be opened).

    Returns:
        The total counter and, per collection, its blocks by DEK version.
    """
    deks: dict[tuple[str, int], int] = {}
    totals: Counter[int] = Counter()
    for entry in entries:
        dek = entry.collection_dek
        if dek is not None:
            deks[dek] = entry.kek_version
        else:
            totals[entry.kek_version] += 1
    per_collection: dict[str, Counter[int]] = {}
    for name in collections:
        by_dek: Counter[int] = Counter()
        for _, header in key_data(store).block_headers(name, HEADER_SIZE):
            try:
                dek_version = BlobHeader.unpack(header).key_version
            except IntegrityError:
                dek_version = 0  # a damaged header names no DEK (fsck reports it)
            by_dek[dek_version] += 1
            totals[deks.get((name, dek_version), 0)] += 1
        per_collection[name] = by_dek
    return totals, per_collection
