"""Audit-log fixtures: a real log file signed by a local key, fed synthetic events."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vault.audit.base import AuditEvent
from vault.audit.bundle import export_bundle
from vault.audit.log import MerkleAuditLog
from vault.audit.note import NoteSigner

ORIGIN = "biovault.local/audit/test-log"


def event(i: int, *, action: str = "verify", outcome: str = "ok", **details) -> AuditEvent:
    """A plausible event number ``i`` (times one second apart)."""
    return AuditEvent(
        time=1_750_000_000.0 + i,
        actor=f"peer-{i % 3}",
        action=action,
        collection="faces",
        outcome=outcome,
        purpose="access",
        subjects=(f"{i:032x}",),
        details={"decision": "match", **details},
    )


def write_bundle(chunks: Iterator[tuple[str, bytes]], directory: Path) -> Path:
    """Write exported (file, chunk) pairs the way the CLI does."""
    directory.mkdir(parents=True)
    for name, chunk in chunks:
        with (directory / name).open("ab") as handle:
            handle.write(chunk)
    return directory


@pytest.fixture(scope="session")
def signer() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


@pytest.fixture
def make_log(tmp_path, signer) -> Iterator[Callable[..., MerkleAuditLog]]:
    """Open (or reopen) a log file under tmp_path; closed after the test."""
    opened: list[MerkleAuditLog] = []

    def make(name: str = "audit.db", *, key: NoteSigner | None = None, **kw) -> MerkleAuditLog:
        log = MerkleAuditLog(tmp_path / name, key or signer, **kw)
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()


@pytest.fixture
def make_bundle(tmp_path, make_log) -> Callable[..., Path]:
    """A bundle of a log holding the given events (default: 12 verify events)."""
    counter = iter(range(1000))

    def make(events: list[AuditEvent] | None = None, *, log: MerkleAuditLog | None = None) -> Path:
        n = next(counter)
        if log is None:
            log = make_log(f"bundle-log-{n}.db")
            for e in events if events is not None else [event(i) for i in range(12)]:
                log.append(e)
        return write_bundle(export_bundle(log), tmp_path / f"bundle-{n}")

    return make
