"""A minimal durable AuditSink: one JSON object per line, fsync'ed per event.

A stand-in until the Merkle log lands: it is append-only and crash-safe, but
offers no tamper evidence.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vault.audit.base import AuditEvent, AuditSink
from vault.errors import IntegrityError, StorageError

__all__ = ["MAX_DETAIL_CHARS", "JsonLinesAuditSink", "read_events"]

# Details are short labels and counters. A cap keeps a serialised vector (which
# could be a template) from ever being written, even smuggled in as text.
MAX_DETAIL_CHARS = 1024

_TEXT_FIELDS = ("actor", "action", "collection", "outcome", "purpose")


class JsonLinesAuditSink(AuditSink):
    """Appends events to a JSON-lines file created with mode 0600.

    Each line holds one event with sorted keys; ``append`` returns only after the
    line is written and fsync'ed. Safe to share between threads.

    Args:
        path: The log file; missing parent directories are created with 0700.

    Raises:
        StorageError: The file cannot be created or opened for appending.
    """

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._fd: int | None = None
        try:
            created = _make_private_dirs(self._path.parent)
            # Read-write only so a torn tail can be inspected; writes still append.
            fd = os.open(self._path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise StorageError(f"audit log {self._path}: cannot open: {e.strerror}") from e
        try:
            _drop_torn_tail(fd)
            # Make the file's directory entry durable too: an fsync'ed event in a
            # file whose name was lost in a crash would be no record at all.
            for directory in {self._path.parent, *created}:
                _fsync_dir(directory)
        except OSError as e:
            os.close(fd)
            raise StorageError(f"audit log {self._path}: cannot open: {e.strerror}") from e
        except StorageError:
            os.close(fd)
            raise
        self._fd = fd

    @property
    def path(self) -> Path:
        """The log file."""
        return self._path

    def append(self, event: AuditEvent) -> None:
        """Write one event and fsync it.

        Raises:
            ValueError: The event holds something other than text, numbers and
                booleans (a detail value that is a list, array or bytes, a
                non-finite float, or an over-long string); nothing is written.
            StorageError: The write or fsync failed, or the sink is closed.
        """
        line = (
            json.dumps(_event_dict(event), sort_keys=True, separators=(",", ":"), allow_nan=False)
            + "\n"
        ).encode("utf-8")
        with self._lock:
            if self._fd is None:
                raise StorageError(f"audit log {self._path} is closed")
            try:
                view = memoryview(line)
                while view:
                    written = os.write(self._fd, view)
                    view = view[written:]
                os.fsync(self._fd)
            except OSError as e:
                raise StorageError(f"audit log {self._path}: cannot append: {e.strerror}") from e

    def close(self) -> None:
        """Close the file. Idempotent."""
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)


def read_events(path: Path) -> Iterator[AuditEvent]:
    """Parse a log written by JsonLinesAuditSink, oldest event first.

    Raises:
        IntegrityError: A line is not a well-formed event (naming its number).
    """
    with Path(path).open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                fields = json.loads(raw)
                fields["subjects"] = tuple(fields["subjects"])
                yield AuditEvent(**fields)
            except (ValueError, TypeError, KeyError) as e:
                raise IntegrityError(f"audit log {path}: line {number} is not an event") from e


def _event_dict(event: AuditEvent) -> dict[str, Any]:
    if isinstance(event.time, bool) or not isinstance(event.time, int | float):
        raise ValueError("audit event time must be a number")
    for name in _TEXT_FIELDS:
        if not isinstance(getattr(event, name), str):
            raise ValueError(f"audit event field {name!r} must be text")
    if not all(isinstance(s, str) for s in event.subjects):
        raise ValueError("audit event subjects must be text pseudonyms")
    record = dataclasses.asdict(event)
    record["time"] = float(event.time)
    record["subjects"] = list(event.subjects)
    record["details"] = {key: _detail(key, value) for key, value in event.details.items()}
    return record


def _detail(key: object, value: object) -> str | int | float | bool:
    # Messages name the key and the type only: the value may be what must not leak.
    if not isinstance(key, str):
        raise ValueError(f"audit detail keys must be text, not {type(key).__name__}")
    if isinstance(value, bool | int | str):
        if isinstance(value, str) and len(value) > MAX_DETAIL_CHARS:
            raise ValueError(f"audit detail {key!r} is longer than {MAX_DETAIL_CHARS} chars")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"audit detail {key!r} is not a finite number")
        return float(value)
    raise ValueError(
        f"audit detail {key!r} must be str, int, float or bool, not {type(value).__name__}"
    )


def _make_private_dirs(directory: Path) -> list[Path]:
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for level in reversed(missing):
        level.mkdir(mode=0o700, exist_ok=True)
    # Parents of new directories need their own fsync for the new entries.
    return [level.parent for level in missing]


def _drop_torn_tail(fd: int) -> None:
    # append() returns only after a whole line is fsync'ed, so a final line
    # without its newline was never acknowledged: a crash interrupted it. Cutting
    # it keeps every line parseable and the next event on a line of its own.
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    tail = min(size, 1 << 20)
    chunk = os.pread(fd, tail, size - tail)
    cut = chunk.rfind(b"\n")
    if cut < 0 and tail < size:
        raise StorageError("audit log: the last line is torn and longer than 1 MiB")
    os.ftruncate(fd, size - tail + cut + 1)
    os.fsync(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
