"""Where data directories of schema version 1 kept the key catalog's secrets.

Before the ``secrets`` table, each wrapped secret was a row of the ``meta`` table
under one key prefix per kind. This module is the frozen description of that old
layout, used once per data directory by the schema migration (v1 -> v2) that moves
those rows into the table; nothing writes it any more.
"""

from __future__ import annotations

from dataclasses import dataclass

from vault.blob import BlobHeader
from vault.errors import IntegrityError

__all__ = ["LEGACY_PREFIXES", "legacy_secret"]

_VAULT = "vault"


@dataclass(frozen=True)
class _OldLayout:
    kind: str
    prefix: str
    per_owner: bool  # prefix + owner + "/" + 8-digit slot
    slotted: bool  # prefix + slot (vault-owned)


_OLD = (
    _OldLayout("ckks-keyset", "ckks.keyset.params-", False, True),
    _OldLayout("data-key", "dek/", True, True),
    _OldLayout("transform-seed", "cancelable.seed/", True, True),
    _OldLayout("audit-signing-key", "audit.signing-key.sealed", False, False),
    _OldLayout("pseudonym-key", "audit.pseudonym-key.wrapped", False, False),
)
#: Meta key prefixes the migration looks under.
LEGACY_PREFIXES = tuple(layout.prefix for layout in _OLD)


def legacy_secret(key: str, value: bytes) -> tuple[str, str, int, int] | None:
    """``(kind, owner, slot, version)`` of a v1 meta row holding a secret, else None."""
    for layout in _OLD:
        if not key.startswith(layout.prefix):
            continue
        rest = key[len(layout.prefix) :]
        if layout.per_owner:
            owner, _, slot = rest.rpartition("/")
            if not owner or not slot.isdigit() or int(slot) < 1:
                return None
            found = (layout.kind, owner, int(slot))
        elif layout.slotted:
            if not rest.isdigit():
                return None
            found = (layout.kind, _VAULT, int(rest))
        elif rest:
            return None
        else:
            found = (layout.kind, _VAULT, 0)
        try:
            version = BlobHeader.unpack(value).key_version
        except IntegrityError:
            version = 0  # stored without the header; the key catalog adds it later
        return (*found, version)
    return None
