"""Every KEK-wrapped key a data directory holds, found by its stored form.

KEK rotation must rewrap *all* of them before old KEK versions may be retired,
including keys added by features that know nothing about rotation. So instead of
a hand-kept list, the store's metadata is scanned and each value is recognised by
its self-describing layout:

* a bare Transit ciphertext (``vault:vN:...``) - collection DEKs
  (``dek/<collection>/<version>``), the audit pseudonym key, ...;
* an envelope (:mod:`vault.keys.envelope`, magic ``BVEN``), possibly behind a
  16-byte blob header (:mod:`vault.blob`) - the CKKS key set and other sealed
  secrets.

Anything else (settings, rotation journals) is not key material and is skipped.
Rewrapping replaces only the wrapped DEK inside the value, compare-and-swap.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from vault.blob import HEADER_SIZE, KEY_VERSION_OFFSET
from vault.core.datakeys import key_data, parse_dek_meta_key
from vault.errors import IntegrityError, KeyServiceError
from vault.keys.base import KeyService
from vault.keys.envelope import ENVELOPE_MAGIC, replace_wrapped_key, wrapped_key_of
from vault.store.base import TemplateStore

__all__ = ["WrappedEntry", "blobs_by_kek_version", "replace_wrapped", "scan_wrapped"]

_BLOB_MAGIC = b"BVLT"
_MAX_BARE_WRAPPED = 4096


@dataclass(frozen=True)
class WrappedEntry:
    """One stored KEK-wrapped key (safe to log: a wrapped key reveals nothing)."""

    meta_key: str
    wrapped: str
    kek_version: int
    # Where the wrapped key sits in the value: 0 = the whole value is the
    # ciphertext; otherwise the offset of an envelope inside the value.
    envelope_offset: int | None

    @property
    def collection_dek(self) -> tuple[str, int] | None:
        """``(collection, DEK version)`` if this is a collection's DEK."""
        return parse_dek_meta_key(self.meta_key) if self.envelope_offset is None else None


def _recognise(meta_key: str, value: bytes, keys: KeyService) -> WrappedEntry | None:
    if value.startswith(ENVELOPE_MAGIC):
        offset: int | None = 0
    elif value.startswith(_BLOB_MAGIC) and value[HEADER_SIZE:].startswith(ENVELOPE_MAGIC):
        offset = HEADER_SIZE
    elif value.startswith(b"vault:v") and len(value) <= _MAX_BARE_WRAPPED:
        offset = None
    else:
        return None
    try:
        wrapped = value.decode("ascii") if offset is None else wrapped_key_of(value[offset:])
        version = keys.wrapped_key_version(wrapped)
    except (UnicodeDecodeError, IntegrityError, KeyServiceError):
        return None
    return WrappedEntry(meta_key, wrapped, version, offset)


def scan_wrapped(store: TemplateStore, keys: KeyService) -> list[WrappedEntry]:
    """Every wrapped key in the store's metadata, in key order."""
    found = []
    for meta_key in key_data(store).list_meta_keys():
        value = store.get_meta(meta_key)
        if value is not None:
            entry = _recognise(meta_key, value, keys)
            if entry is not None:
                found.append(entry)
    return found


def replace_wrapped(store: TemplateStore, entry: WrappedEntry, new_wrapped: str) -> bool:
    """Swap ``entry``'s wrapped key for ``new_wrapped`` (the same DEK, rewrapped).

    Returns:
        True if replaced; False if the stored value changed since it was scanned.
    """
    value = store.get_meta(entry.meta_key)
    if value is None:
        return False
    if entry.envelope_offset is None:
        if value.decode("ascii", errors="replace") != entry.wrapped:
            return False
        new_value = new_wrapped.encode("ascii")
    else:
        offset = entry.envelope_offset
        if wrapped_key_of(value[offset:]) != entry.wrapped:
            return False
        new_value = value[:offset] + replace_wrapped_key(value[offset:], new_wrapped)
    return key_data(store).replace_meta(entry.meta_key, value, new_value)


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
    end = KEY_VERSION_OFFSET + 4
    for name in collections:
        by_dek: Counter[int] = Counter()
        for _, header in key_data(store).block_headers(name, end):
            dek_version = int.from_bytes(header[KEY_VERSION_OFFSET:end], "little")
            by_dek[dek_version] += 1
            totals[deks.get((name, dek_version), 0)] += 1
        per_collection[name] = by_dek
    return totals, per_collection
