"""Key status: which KEK and DEK versions protect what, and every wrapped secret.

Read-only; the counts come from the key catalog (:mod:`vault.keys.catalog`)
through :mod:`vault.keys.inventory`, so a secret the catalog holds is listed and
counted without being named here. No key material is ever part of a status.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from vault.keys.base import KeyService
from vault.keys.datakeys import CollectionDataKeys
from vault.keys.inventory import blobs_by_kek_version, scan_wrapped
from vault.keys.rotation import load_journal
from vault.store.base import TemplateStore

__all__ = ["CollectionKeyStatus", "KeyStatus", "SecretStatus", "key_status"]


@dataclass(frozen=True)
class CollectionKeyStatus:
    """Data keys of one collection and how its blocks use them."""

    name: str
    dek_version: int
    dek_versions: tuple[int, ...]
    blocks: int
    blocks_by_dek_version: dict[int, int]


@dataclass(frozen=True)
class SecretStatus:
    """One wrapped secret of the key catalog (no key material)."""

    kind: str
    owner: str
    version: int
    kek_version: int


@dataclass(frozen=True)
class KeyStatus:
    """Where every key stands (versions and counts; no key material)."""

    kek_name: str
    kek_version: int
    min_decryption_version: int
    min_available_version: int
    blobs_by_kek_version: dict[int, int]
    wrapped_keys_by_kek_version: dict[int, int]
    collections: tuple[CollectionKeyStatus, ...]
    rotations: dict[str, dict[str, Any]] = field(default_factory=dict)
    running: str = ""
    auth_method: str = ""
    secrets: tuple[SecretStatus, ...] = ()


def _collection_status(
    name: str, wrapped: dict[int, str], blocks: Counter[int]
) -> CollectionKeyStatus:
    versions = tuple(sorted(wrapped))
    return CollectionKeyStatus(
        name=name,
        dek_version=max(versions, default=0),
        dek_versions=versions,
        blocks=sum(blocks.values()),
        blocks_by_dek_version=dict(sorted(blocks.items())),
    )


def key_status(
    store: TemplateStore, keys: KeyService, data_keys: CollectionDataKeys, *, running: str = ""
) -> KeyStatus:
    """Versions of the KEK, of every DEK, and how many blobs each protects.

    Raises:
        KeyServiceUnavailable: The key service cannot be reached.
    """
    info = keys.kek_info()
    entries = scan_wrapped(store, keys)
    names = [c.name for c in store.list_collections()]
    totals, per_collection = blobs_by_kek_version(store, entries, names)
    collections = tuple(
        _collection_status(name, data_keys.wrapped_versions(name), per_collection[name])
        for name in names
    )
    rotations = {}
    for kind in ("kek", "dek"):
        journal = load_journal(store, kind)
        if journal is not None:
            rotations[kind] = journal
    return KeyStatus(
        kek_name=info.name,
        kek_version=info.latest_version,
        min_decryption_version=info.min_decryption_version,
        min_available_version=info.min_available_version,
        blobs_by_kek_version=dict(sorted(totals.items())),
        wrapped_keys_by_kek_version=dict(sorted(Counter(e.kek_version for e in entries).items())),
        collections=collections,
        rotations=rotations,
        running=running,
        auth_method=str(getattr(keys, "auth_method", "")),
        secrets=tuple(
            SecretStatus(e.record.kind.value, e.record.owner, e.record.version, e.kek_version)
            for e in entries
        ),
    )
