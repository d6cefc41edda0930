"""The JSON-lines audit sink: format, durability, privacy of details, thread safety."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from vault.audit import AuditEvent, JsonLinesAuditSink, read_events
from vault.audit.jsonl import MAX_DETAIL_CHARS
from vault.errors import IntegrityError, StorageError

_DEFAULT_DETAILS = {"count": 1, "batched": True, "ratio": 0.5, "note": "x\ny"}


def _event(n: int = 0, **details: Any) -> AuditEvent:
    return AuditEvent(
        time=1_700_000_000 + n,
        actor="node-7",
        action="enroll",
        collection="faces",
        outcome="ok",
        purpose="access",
        subjects=(f"p-{n:04d}",),
        details=details or dict(_DEFAULT_DETAILS),
    )


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    """Where the log lives (its directory does not exist yet)."""
    return tmp_path / "audit" / "events.jsonl"


def test_lines_are_sorted_json_with_float_time(log_path: Path) -> None:
    """Each event is one line of JSON with sorted keys and every AuditEvent field."""
    sink = JsonLinesAuditSink(log_path)
    sink.append(_event(1))
    sink.append(_event(2))
    sink.close()

    lines = log_path.read_bytes().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert list(first) == sorted(first)
    assert set(first) == {
        "time",
        "actor",
        "action",
        "collection",
        "outcome",
        "purpose",
        "subjects",
        "details",
    }
    assert isinstance(first["time"], float)
    assert first["time"] == 1_700_000_001.0
    assert first["subjects"] == ["p-0001"]
    assert first["details"] == _DEFAULT_DETAILS


def test_events_read_back_after_reopen(log_path: Path) -> None:
    """Appended events are in the file after close and a new sink keeps appending."""
    sink = JsonLinesAuditSink(log_path)
    sink.append(_event(1))
    sink.close()
    sink = JsonLinesAuditSink(log_path)
    sink.append(_event(2))
    sink.close()
    events = list(read_events(log_path))
    assert [e.subjects for e in events] == [("p-0001",), ("p-0002",)]
    assert events[0] == _event(1)


def test_append_is_durable_before_returning(log_path: Path) -> None:
    """Without close, an appended line is already visible to an independent reader."""
    sink = JsonLinesAuditSink(log_path)
    sink.append(_event(3))
    # A separate open file description sees what append() wrote and fsync'ed.
    assert [e.subjects for e in read_events(log_path)] == [("p-0003",)]
    sink.close()


def test_append_survives_process_crash(log_path: Path) -> None:
    """An event whose append returned is in the file even if the process dies unclosed."""
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from vault.audit import AuditEvent, JsonLinesAuditSink\n"
        "sink = JsonLinesAuditSink(Path(sys.argv[1]))\n"
        "sink.append(AuditEvent(5.0, 'officer', 'delete', 'faces', 'ok', subjects=('p-9',)))\n"
        "os._exit(0)\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", script, str(log_path)], cwd=root, check=True, timeout=60)
    assert [(e.action, e.subjects) for e in read_events(log_path)] == [("delete", ("p-9",))]


def test_file_and_directory_are_private(log_path: Path) -> None:
    """The log is created 0600 inside a 0700 directory."""
    JsonLinesAuditSink(log_path).close()
    assert stat.S_IMODE(log_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log_path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    "value",
    [b"raw-bytes", [0.1, 0.2], {"nested": 1}, None, float("nan"), float("inf"), 1 + 2j],
)
def test_non_scalar_details_are_refused(log_path: Path, value: object) -> None:
    """A detail that is not a finite str/int/float/bool raises ValueError and writes nothing."""
    sink = JsonLinesAuditSink(log_path)
    with pytest.raises(ValueError, match="'leak'") as info:
        sink.append(_event(1, leak=value))
    assert "0.1" not in str(info.value)  # names the key and type, never the value
    sink.close()
    assert log_path.read_bytes() == b""


def test_over_long_detail_strings_are_refused(log_path: Path) -> None:
    """A detail string longer than the cap (a serialised vector, say) is refused."""
    sink = JsonLinesAuditSink(log_path)
    sink.append(_event(1, fine="a" * MAX_DETAIL_CHARS))
    with pytest.raises(ValueError, match="longer"):
        sink.append(_event(2, blob="0.0123," * 512))
    sink.close()
    assert len(log_path.read_bytes().splitlines()) == 1


def test_non_text_subjects_are_refused(log_path: Path) -> None:
    """Subject pseudonyms must be text; anything else is refused."""
    bad = AuditEvent(1.0, "a", "delete", "faces", "ok", subjects=(b"raw",))  # type: ignore[arg-type]
    sink = JsonLinesAuditSink(log_path)
    with pytest.raises(ValueError, match="subjects"):
        sink.append(bad)
    sink.close()


def test_concurrent_appends_do_not_interleave(log_path: Path) -> None:
    """Events appended from many threads land as whole, parseable lines, none lost."""
    sink = JsonLinesAuditSink(log_path)
    padding = "z" * 900  # long lines make torn writes likely if locking were wrong

    def worker(thread: int) -> None:
        for n in range(40):
            sink.append(_event(thread * 1000 + n, pad=padding, thread=thread))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()

    events = list(read_events(log_path))
    assert len(events) == 8 * 40
    assert {e.subjects[0] for e in events} == {
        f"p-{t * 1000 + n:04d}" for t in range(8) for n in range(40)
    }


def test_torn_tail_from_a_crash_is_cut(log_path: Path) -> None:
    """An unterminated last line (never acknowledged) is dropped when the log reopens."""
    sink = JsonLinesAuditSink(log_path)
    sink.append(_event(1))
    sink.close()
    with log_path.open("ab") as f:
        f.write(b'{"action":"enr')
    sink = JsonLinesAuditSink(log_path)
    sink.append(_event(2))
    sink.close()
    assert [e.subjects for e in read_events(log_path)] == [("p-0001",), ("p-0002",)]


def test_garbage_line_is_reported_by_number(log_path: Path) -> None:
    """read_events names the first line that is not an event."""
    sink = JsonLinesAuditSink(log_path)
    sink.append(_event(1))
    sink.close()
    with log_path.open("ab") as f:
        f.write(b'{"not": "an event"}\n')
    with pytest.raises(IntegrityError, match="line 2"):
        list(read_events(log_path))


def test_closed_sink_raises(log_path: Path) -> None:
    """append after close raises StorageError; close is idempotent."""
    sink = JsonLinesAuditSink(log_path)
    sink.close()
    sink.close()
    with pytest.raises(StorageError, match="closed"):
        sink.append(_event())


def test_unopenable_path_raises_storage_error(tmp_path: Path) -> None:
    """A log path under a regular file raises StorageError, not OSError."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError):
        JsonLinesAuditSink(tmp_path / "file" / "events.jsonl")


def test_appends_use_one_write_per_line(log_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each event is written with a single write call followed by an fsync."""
    calls: list[str] = []
    real_write, real_fsync = os.write, os.fsync

    def write(fd: int, data: bytes) -> int:
        calls.append("write")
        return real_write(fd, data)

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    sink = JsonLinesAuditSink(log_path)
    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "fsync", fsync)
    sink.append(_event(1))
    monkeypatch.undo()
    sink.close()
    assert calls == ["write", "fsync"]
