"""SIGKILL of a real ``serve`` late in a large enrolment: the audit log never misses a
stored subject (issue 13, item 6). Before, the entry was appended after the store
commit, and a kill between the two left 48,000 stored subjects out of the log."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
import pytest

from tests.support.service import ServiceProcess, run_cli
from tests.support.synthetic import identities
from vault.client import ClientError, VaultClient
from vault.types import CollectionSpec, ProtectionMode

DIM = 64
ROWS = 20_000
CONSENT = {"purpose": "access", "consent_ref": "C-1", "legal_basis": "consent"}


def _count(path: Path, sql: str) -> int:
    """One count from a live database, read-only (WAL lets it read during writes)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.1) as db:
            return int(db.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # busy or not created yet: ask again


def _chunk_entries(data_dir: Path) -> int:
    return _count(
        data_dir / "audit.db",
        "SELECT count(*) FROM entries WHERE CAST(entry AS TEXT) LIKE '%\"chunks\":%'",
    )


def _stored(data_dir: Path) -> int:
    return _count(data_dir / "vault.db", "SELECT count(*) FROM subjects")


def _fsck(data_dir: Path, env: dict[str, str]) -> dict:
    done = run_cli("fsck", "--data-dir", str(data_dir), "--json", "-", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def _kill_during_large_enrolment(
    service: ServiceProcess, reached: Callable[[], bool], poll: float
) -> float:
    """Create ``faces`` with two early subjects, start a ROWS-subject enrolment in the
    background and SIGKILL the service once ``reached()`` holds.

    Returns:
        The monotonic time the wait was bounded by (callers wait on after the kill).
    """
    templates = identities(ROWS, DIM, np.random.default_rng(6)).astype(np.float32)
    with VaultClient(service.target, timeout=30) as client:
        client.create_collection(
            CollectionSpec("faces", ProtectionMode.CKKS, DIM, purposes=("access",))
        )
        client.enroll("faces", ["early-0", "early-1"], templates[:2] * 0.5 + 0.1, **CONSENT)
    errors: list[BaseException] = []

    def enrol() -> None:
        try:
            with VaultClient(service.target, timeout=300) as client:
                client.enroll("faces", [f"s{i}" for i in range(ROWS)], templates, **CONSENT)
        except ClientError as error:  # the service was killed
            errors.append(error)

    worker = threading.Thread(target=enrol, daemon=True)
    worker.start()
    deadline = time.monotonic() + 120
    while not reached() and time.monotonic() < deadline:
        time.sleep(poll)
    assert service.process is not None
    service.process.kill()  # SIGKILL
    service.process.wait()
    worker.join(timeout=60)
    assert time.monotonic() < deadline, f"the enrolment never reached the kill point: {errors}"
    return deadline


@pytest.mark.parametrize("kill_when", ["entries_written", "store_committed"])
def test_sigkill_late_in_a_large_enrolment_leaves_store_and_log_agreeing(
    tmp_path, openbao_dev, kill_when
) -> None:
    """Killed while the enrolment's chunked entries are written, or right after its
    commit: fsck is consistent at once, and after a restart the enrolment is either
    all there or absent, with the log saying the same."""
    data_dir = tmp_path / "data"
    service = ServiceProcess(
        data_dir, tmp_path / "serve.log", vault_addr=openbao_dev.addr, token=openbao_dev.token
    ).start()
    seen = _chunk_entries if kill_when == "entries_written" else lambda d: _stored(d) > 2
    _kill_during_large_enrolment(service, lambda: seen(data_dir), 0.005)

    env = {**service.env, "VAULT_ADDR": openbao_dev.addr, "VAULT_TOKEN": openbao_dev.token}
    killed = _fsck(data_dir, env)
    assert killed["ok"], killed
    stored_at_kill = _stored(data_dir) - 2
    print(
        f"\nkilled at {kill_when}: {stored_at_kill} of {ROWS} stored, "
        f"{_chunk_entries(data_dir)} chunk entries, "
        f"pending recovery {killed.get('subjects_pending_recovery', 0)}"
    )
    assert stored_at_kill in (0, ROWS)
    if stored_at_kill == ROWS:  # committed: every chunk was logged before the commit
        assert killed.get("subjects_pending_recovery", 0) == 0

    service.start()
    try:
        with VaultClient(service.target, timeout=60) as client:
            size = client.get_collection("faces").size
    finally:
        assert service.stop() == 0
    assert size in (2, ROWS + 2)
    recovered = _fsck(data_dir, env)
    assert recovered["ok"] and recovered.get("subjects_pending_recovery", 0) == 0, recovered


def _pg_count(url: str, query: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


_PG_STORED = "SELECT count(*) FROM subjects"
_PG_CHUNKS = (
    "SELECT count(*) FROM audit_entries WHERE convert_from(entry, 'UTF8') LIKE '%\"chunks\":%'"
)
# The serving process's transaction has written (an xid) but not committed.
_PG_IN_COMMIT = (
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'biovault' "
    "AND backend_xid IS NOT NULL"
)
_PG_SESSIONS = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'biovault'"


@pytest.mark.parametrize("kill_when", ["inside_the_commit", "store_committed"])
def test_sigkill_during_a_postgresql_enrolment_commits_entries_and_store_together(
    tmp_path, openbao_dev, postgres_server, kill_when
) -> None:
    """On PostgreSQL the chunk entries are inserted in the enrolment's own transaction:
    a kill inside it leaves neither subjects nor entries (nothing to recover, no
    ``reconcile.absent``), a kill after it leaves both; fsck agrees at once."""
    url = postgres_server.url(postgres_server.create_database())
    data_dir = tmp_path / "data"
    service = ServiceProcess(
        data_dir, tmp_path / "serve.log", vault_addr=openbao_dev.addr, token=openbao_dev.token,
        extra_args=("--store-url", url),
    ).start()  # fmt: skip
    query = _PG_IN_COMMIT if kill_when == "inside_the_commit" else _PG_STORED
    floor = 0 if kill_when == "inside_the_commit" else 2
    deadline = _kill_during_large_enrolment(
        service, lambda: _pg_count(url, query) > floor, 0.002
    )
    while _pg_count(url, _PG_SESSIONS) and time.monotonic() < deadline + 60:
        time.sleep(0.05)  # the server notices the dead client and rolls back

    stored_at_kill = _pg_count(url, _PG_STORED) - 2
    chunks = _pg_count(url, _PG_CHUNKS)
    print(f"\nkilled {kill_when}: {stored_at_kill} of {ROWS} stored, {chunks} chunk entries")
    assert (stored_at_kill, chunks) in ((0, 0), (ROWS, -(-ROWS // 1000)))
    if kill_when == "store_committed":
        assert stored_at_kill == ROWS
    env = {**service.env, "VAULT_ADDR": openbao_dev.addr, "VAULT_TOKEN": openbao_dev.token}
    checked = run_cli("fsck", "--data-dir", str(data_dir), "--store-url", url,
                      "--json", "-", env=env)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    killed = json.loads(checked.stdout)
    assert killed["ok"] and killed.get("subjects_pending_recovery", 0) == 0, killed

    service.start()
    try:
        with VaultClient(service.target, timeout=60) as client:
            size = client.get_collection("faces").size
    finally:
        assert service.stop() == 0
    assert size == stored_at_kill + 2
    # Nothing was half-done, so the restart had nothing to reconcile.
    absent = "SELECT count(*) FROM audit_entries WHERE convert_from(entry, 'UTF8') LIKE "
    assert _pg_count(url, absent + "'%reconcile.absent%'") == 0
    assert _pg_count(url, "SELECT count(*) FROM audit_entries") == 1 + _pg_count(
        url, "SELECT max(seq) FROM audit_entries"
    )
