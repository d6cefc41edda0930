"""Retention periods: part of a collection's :class:`~vault.types.CollectionPolicy`.

Every collection has one. A template may be kept ``retention_seconds`` after its
enrolment; then it must be erased (BIPA 740 ILCS 14/15(a): a retention schedule
with destruction at the latest three years after the last interaction; GDPR
Art. 5(1)(e): storage limitation). The default is the BIPA outer bound.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vault.store.base import CollectionRecord
from vault.types import DEFAULT_RETENTION_SECONDS, MAX_RETENTION_SECONDS, CollectionPolicy

__all__ = [
    "DEFAULT_RETENTION_SECONDS",
    "MAX_RETENTION_SECONDS",
    "RetentionResult",
    "config_with_retention",
    "retention_of",
]


@dataclass(frozen=True)
class RetentionResult:
    """What one retention run erased in one collection."""

    collection: str
    retention_seconds: float
    cutoff: float
    erased: tuple[str, ...]


def config_with_retention(config_json: str, seconds: float | None) -> str:
    """``config_json`` with the retention period set (the default when None).

    Raises:
        InvalidArgument: Not a positive, finite number of seconds up to 100 years.
    """
    value = DEFAULT_RETENTION_SECONDS if seconds is None else seconds
    policy = replace(CollectionPolicy.from_json(config_json), retention_seconds=value).check()
    return replace(policy, retention_seconds=float(value)).to_json(config_json)


def retention_of(record: CollectionRecord | str) -> float:
    """The retention period of a stored collection (record or its ``config_json``).

    Collections stored before retention existed get the default. Parses the JSON:
    the core reads the policy it cached when the collection loaded.

    Raises:
        IntegrityError: The stored setting is not a positive number.
    """
    text = record.config_json if isinstance(record, CollectionRecord) else record
    return CollectionPolicy.from_json(text).retention_seconds
