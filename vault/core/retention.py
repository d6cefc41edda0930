"""Retention periods: stored in a collection's ``config_json``, read back here.

Every collection has one. A template may be kept ``retention_seconds`` after its
enrolment; then it must be erased (BIPA 740 ILCS 14/15(a): a retention schedule
with destruction at the latest three years after the last interaction; GDPR
Art. 5(1)(e): storage limitation). The default is the BIPA outer bound.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Final

from vault.errors import IntegrityError, InvalidArgument
from vault.store.base import CollectionRecord

__all__ = [
    "DEFAULT_RETENTION_SECONDS",
    "MAX_RETENTION_SECONDS",
    "RetentionResult",
    "config_with_retention",
    "retention_of",
]

DEFAULT_RETENTION_SECONDS: Final = 3 * 365 * 86_400.0
MAX_RETENTION_SECONDS: Final = 100 * 365 * 86_400.0
_KEY: Final = "retention_seconds"


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
    if not (isinstance(value, int | float) and math.isfinite(value)):
        raise InvalidArgument("retention must be a finite number of seconds")
    if not 0 < value <= MAX_RETENTION_SECONDS:
        raise InvalidArgument("retention must be more than 0 s and at most 100 years")
    config = json.loads(config_json or "{}")
    config[_KEY] = float(value)
    return json.dumps(config, sort_keys=True)


def retention_of(record: CollectionRecord | str) -> float:
    """The retention period of a collection (record or its ``config_json``).

    Collections stored before retention existed get the default.

    Raises:
        IntegrityError: The stored setting is not a positive number.
    """
    text = record.config_json if isinstance(record, CollectionRecord) else record
    try:
        value = json.loads(text or "{}").get(_KEY, DEFAULT_RETENTION_SECONDS)
    except (ValueError, AttributeError):
        raise IntegrityError("a collection's stored settings are not a JSON object") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise IntegrityError("a collection's stored retention period is invalid")
    return float(value)
