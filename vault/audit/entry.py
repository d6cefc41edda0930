"""The canonical byte form of one audit-log entry (the Merkle leaf data).

An entry is one line of ASCII JSON with sorted keys and no spaces::

    {"action":"verify","actor":"ipv4:127.0.0.1:50522","collection":"faces",
     "details":{"decision":"match"},"outcome":"ok","purpose":"access","seq":41,
     "subjects":["5f0c..."],"time":"2025-06-01T12:00:00.123456Z","v":1}

Only short labels, counters and pseudonyms go in: text longer than the caps below
or holding control characters is replaced by a marker saying how long it was,
so nothing a client sends (a serialised template in a name, say) is copied into
the log. Decoding is strict: the bytes must be exactly what :func:`encode_entry`
writes for the decoded values.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from vault.audit.base import AuditEvent
from vault.errors import IntegrityError

__all__ = [
    "ENTRY_VERSION",
    "MAX_DETAIL_CHARS",
    "MAX_FIELD_CHARS",
    "EntryError",
    "LogEntry",
    "decode_entry",
    "encode_entry",
    "entry_from_event",
    "format_time",
    "parse_time",
]

ENTRY_VERSION: Final = 1
MAX_FIELD_CHARS: Final = 256
MAX_DETAIL_CHARS: Final = 1024
_MAX_SUBJECTS: Final = 1000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_TEXT_FIELDS: Final = ("actor", "action", "collection", "purpose", "outcome")
_KEYS: Final = frozenset({"v", "seq", "time", "subjects", "details", *_TEXT_FIELDS})

Scalar = str | int | float | bool


class EntryError(IntegrityError):
    """Bytes that are not a canonical audit entry."""


@dataclass(frozen=True)
class LogEntry:
    """One decoded entry; ``time_us`` is microseconds since the Unix epoch (UTC)."""

    seq: int
    time_us: int
    actor: str
    action: str
    collection: str
    purpose: str
    outcome: str
    subjects: tuple[str, ...] = ()
    details: Mapping[str, Scalar] = field(default_factory=dict)

    @property
    def time(self) -> float:
        """Seconds since the Unix epoch."""
        return self.time_us / 1e6


def format_time(time_us: int) -> str:
    """ISO 8601 UTC with microseconds, e.g. ``2025-06-01T12:00:00.123456Z``."""
    return (_EPOCH + timedelta(microseconds=time_us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: object) -> int:
    """Microseconds since the epoch of a time written by :func:`format_time`."""
    if not isinstance(text, str) or not _TIME.fullmatch(text):
        raise EntryError("entry time is not an ISO 8601 UTC time with microseconds")
    try:
        parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        raise EntryError("entry time is not a valid date and time") from None
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _safe_text(value: object, cap: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, not {type(value).__name__}")
    if len(value) > cap or not value.isprintable():
        return f"<withheld: {len(value)} chars>"
    return value


def _safe_detail(key: object, value: object) -> Scalar:
    # Errors name the key and the type only: the value may be what must not leak.
    if not isinstance(key, str):
        raise ValueError(f"audit detail keys must be text, not {type(key).__name__}")
    if isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _safe_text(value, MAX_DETAIL_CHARS)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"audit detail {key!r} is not a finite number")
        return value
    raise ValueError(
        f"audit detail {key!r} must be str, int, float or bool, not {type(value).__name__}"
    )


def entry_from_event(seq: int, time_us: int, event: AuditEvent) -> LogEntry:
    """Turn a core event into a log entry, withholding over-long or odd text.

    Raises:
        ValueError: A detail is not text, a number or a boolean (a list, an array,
            bytes...), or a number is not finite; nothing is logged then.
    """
    if len(event.subjects) > _MAX_SUBJECTS:
        raise ValueError(f"an entry lists at most {_MAX_SUBJECTS} subjects")
    return LogEntry(
        seq=seq,
        time_us=time_us,
        subjects=tuple(_safe_text(s, MAX_FIELD_CHARS) for s in event.subjects),
        details={str(k): _safe_detail(k, v) for k, v in sorted(event.details.items())},
        **{name: _safe_text(getattr(event, name), MAX_FIELD_CHARS) for name in _TEXT_FIELDS},
    )


def _as_dict(entry: LogEntry) -> dict[str, Any]:
    record: dict[str, Any] = {name: getattr(entry, name) for name in _TEXT_FIELDS}
    record.update(
        v=ENTRY_VERSION,
        seq=entry.seq,
        time=format_time(entry.time_us),
        subjects=list(entry.subjects),
        details=dict(entry.details),
    )
    return record


def encode_entry(entry: LogEntry) -> bytes:
    """The canonical bytes of an entry (no trailing newline)."""
    text = json.dumps(
        _as_dict(entry), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return text.encode("ascii")


def decode_entry(data: bytes) -> LogEntry:
    """Parse canonical entry bytes.

    Raises:
        EntryError: Not JSON, wrong fields or types, or not in canonical form.
    """
    try:
        record = json.loads(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise EntryError("entry is not ASCII JSON") from None
    if not isinstance(record, dict) or set(record) != _KEYS:
        raise EntryError("entry does not have exactly the expected fields")
    if record["v"] != ENTRY_VERSION or type(record["v"]) is not int:
        raise EntryError("entry has an unknown format version")
    seq, subjects, details = record["seq"], record["subjects"], record["details"]
    if type(seq) is not int or seq < 0:
        raise EntryError("entry seq is not a non-negative integer")
    if not all(isinstance(record[name], str) for name in _TEXT_FIELDS):
        raise EntryError("entry text fields must be strings")
    if not isinstance(subjects, list) or not all(isinstance(s, str) for s in subjects):
        raise EntryError("entry subjects must be a list of strings")
    if not isinstance(details, dict) or not all(
        isinstance(v, str | int | float) for v in details.values()
    ):
        raise EntryError("entry details must map names to scalars")
    entry = LogEntry(
        seq=seq,
        time_us=parse_time(record["time"]),
        subjects=tuple(subjects),
        details=details,
        **{name: record[name] for name in _TEXT_FIELDS},
    )
    if encode_entry(entry) != data:
        raise EntryError("entry is not in canonical form")
    return entry
