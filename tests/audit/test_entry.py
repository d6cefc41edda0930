"""Canonical audit entries: round trip, strict decoding, nothing unsafe written."""

import json

import pytest

from tests.audit.conftest import event
from vault.audit.base import AuditEvent
from vault.audit.entry import (
    MAX_DETAIL_CHARS,
    EntryError,
    decode_entry,
    encode_entry,
    entry_from_event,
    format_time,
)


def test_round_trip_is_exact():
    """Encoding then decoding gives the entry back, with microsecond UTC time."""
    entry = entry_from_event(7, 1_750_000_000_123_456, event(7, count=3, ratio=0.5, ok=True))
    data = encode_entry(entry)
    assert decode_entry(data) == entry
    record = json.loads(data)
    assert record["time"] == "2025-06-15T15:06:40.123456Z" == format_time(entry.time_us)
    assert list(record) == sorted(record) and b" " not in data


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r | {"seq": -1},
        lambda r: r | {"v": 2},
        lambda r: r | {"extra": 1},
        lambda r: {k: v for k, v in r.items() if k != "outcome"},
        lambda r: r | {"subjects": [1]},
        lambda r: r | {"details": {"x": [1, 2]}},
        lambda r: r | {"time": "2025-06-15 15:06:40Z"},
        lambda r: r | {"time": "2025-02-30T00:00:00.000000Z"},
    ],
)
def test_malformed_entries_are_refused(mutate):
    """Wrong fields, types, versions or times do not decode."""
    record = json.loads(encode_entry(entry_from_event(1, 0, event(1))))
    data = json.dumps(mutate(record), sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(EntryError):
        decode_entry(data)


def test_non_canonical_bytes_are_refused():
    """The same values with spaces, another key order or escapes do not decode."""
    data = encode_entry(entry_from_event(1, 0, event(1)))
    record = json.loads(data)
    for variant in (
        json.dumps(record, sort_keys=True).encode(),
        json.dumps(dict(reversed(record.items())), separators=(",", ":")).encode(),
        data.replace(b'"faces"', b'"fac\\u0065s"'),
        data + b"\n",
    ):
        with pytest.raises(EntryError):
            decode_entry(variant)


def test_over_long_and_control_text_is_withheld():
    """Client-controlled text that is too long or holds control characters is replaced."""
    long_name = "0.1234," * 2000  # what a template smuggled in as a name would look like
    source = AuditEvent(
        time=0.0,
        actor="a\nb",
        action="collection.create",
        collection=long_name,
        outcome="InvalidArgument",
        details={"note": "x" * (MAX_DETAIL_CHARS + 1)},
    )
    entry = entry_from_event(0, 0, source)
    assert entry.collection == f"<withheld: {len(long_name)} chars>"
    assert entry.actor == "<withheld: 3 chars>"
    assert entry.details["note"] == f"<withheld: {MAX_DETAIL_CHARS + 1} chars>"
    assert b"0.1234" not in encode_entry(entry)


@pytest.mark.parametrize("value", [[0.1, 0.2], b"\x00\x01", float("nan"), {"a": 1}, None])
def test_non_scalar_details_are_refused(value):
    """Vectors, bytes, NaN or nested values never become an entry."""
    with pytest.raises(ValueError):
        entry_from_event(0, 0, event(0, payload=value))
