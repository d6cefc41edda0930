"""Checks on request fields (names, ids, top-k, purposes) before any work starts."""

from __future__ import annotations

import re
from collections.abc import Sequence

from vault.errors import FailedPrecondition, InvalidArgument

__all__ = [
    "MAX_TOP_K",
    "check_collection_name",
    "check_purpose",
    "check_subject_ids",
    "check_top_k",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_MAX_ID_LENGTH = 256
MAX_TOP_K = 1000


def check_collection_name(name: str) -> None:
    if not _NAME.match(name or ""):
        raise InvalidArgument(
            "collection name must be 1-128 characters of letters, digits, '_', '.', '-'"
        )


def check_subject_ids(subject_ids: Sequence[str], expected: int) -> None:
    if len(subject_ids) != expected:
        raise InvalidArgument(f"got {len(subject_ids)} subject ids for {expected} templates")
    for subject_id in subject_ids:
        if not subject_id or len(subject_id) > _MAX_ID_LENGTH or not subject_id.isprintable():
            raise InvalidArgument(f"subject ids must be 1-{_MAX_ID_LENGTH} printable characters")
    if len(set(subject_ids)) != len(subject_ids):
        raise InvalidArgument("subject ids repeat within the batch")


def check_top_k(top_k: int) -> None:
    if not 1 <= top_k <= MAX_TOP_K:
        raise InvalidArgument(f"top_k must be between 1 and {MAX_TOP_K}")


def check_purpose(purpose: str, allowed: Sequence[str]) -> None:
    """A stated purpose must be one the collection declared (when it declared any)."""
    if purpose and allowed and purpose not in allowed:
        raise FailedPrecondition(f"purpose '{purpose}' is not allowed for this collection")
