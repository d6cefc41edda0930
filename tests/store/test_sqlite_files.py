"""The store's files: permissions, persistence, pragmas, schema and error translation."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from tests.store.records import COLLECTION, block, collection_record, raw_rows, subject
from vault.errors import StorageError
from vault.store import SqliteTemplateStore


@pytest.fixture
def store_backend() -> str:
    """These tests look at SQLite's own files."""
    return "sqlite"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_are_private(store: SqliteTemplateStore, db_path: Path) -> None:
    """The db, -wal and -shm files are 0600 and the created directory is 0700."""
    store.commit_enrollment(COLLECTION, [block(0)], [subject("alice")])
    names = sorted(p.name for p in db_path.parent.iterdir())
    assert names == ["store.db", "store.db-shm", "store.db-wal"]
    for name in names:
        assert _mode(db_path.parent / name) == 0o600, name
    assert _mode(db_path.parent) == 0o700


def test_missing_parents_are_created_private(tmp_path: Path) -> None:
    """Every missing directory level is created 0700, not just the last one."""
    path = tmp_path / "a" / "b" / "c" / "store.db"
    SqliteTemplateStore(path).close()
    for level in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert _mode(level) == 0o700, level


def test_loose_existing_file_is_tightened(db_path: Path) -> None:
    """An existing world-readable store file is narrowed to 0600 on open."""
    SqliteTemplateStore(db_path).close()
    db_path.chmod(0o644)
    SqliteTemplateStore(db_path).close()
    assert _mode(db_path) == 0o600


def test_everything_persists_across_reopen(db_path: Path) -> None:
    """Collections, blocks, subjects and metadata read back after close and reopen."""
    blocks = [block(0, next_slot=2, live=2), block(1)]
    subjects = [subject("a", 0, 0), subject("b", 0, 1), subject("c", 1, 0)]
    with SqliteTemplateStore(db_path) as first:
        first.create_collection(collection_record())
        first.commit_enrollment(COLLECTION, blocks, subjects)
        first.put_meta("dek", b"wrapped")
    with SqliteTemplateStore(db_path) as second:
        assert second.get_collection(COLLECTION) == collection_record()
        assert list(second.iter_blocks(COLLECTION)) == blocks
        assert second.list_subjects(COLLECTION) == subjects
        assert second.get_meta("dek") == b"wrapped"


def test_acknowledged_write_survives_process_crash(db_path: Path) -> None:
    """A commit that returned is on disk even if the process dies without closing."""
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from tests.store.records import block, collection_record, subject
        from vault.store import SqliteTemplateStore
        store = SqliteTemplateStore(Path({str(db_path)!r}))
        store.create_collection(collection_record())
        store.commit_enrollment("faces", [block(0)], [subject("alice")])
        os._exit(0)
        """
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", script], cwd=root, check=True, timeout=60)
    with SqliteTemplateStore(db_path) as reopened:
        assert reopened.get_subject(COLLECTION, "alice") == subject("alice")


def test_journal_is_wal_with_full_sync(store: SqliteTemplateStore, db_path: Path) -> None:
    """The file is in WAL mode and the store's connection syncs every commit."""
    assert raw_rows(db_path, "PRAGMA journal_mode") == [("wal",)]
    # Per-connection pragmas are only visible on the store's own connection.
    with store._db.reading("inspect") as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_schema_version_is_recorded(store: SqliteTemplateStore, db_path: Path) -> None:
    """A new store records schema version 2 (the key catalog's own table)."""
    assert raw_rows(db_path, "SELECT version FROM schema_version") == [(2,)]


def test_newer_schema_is_refused(db_path: Path) -> None:
    """A store written by a newer schema is not opened blindly."""
    SqliteTemplateStore(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="schema version 99"):
        SqliteTemplateStore(db_path)


def test_not_a_database_is_refused(db_path: Path) -> None:
    """A file that is not SQLite raises StorageError saying so."""
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(StorageError, match="not a SQLite database"):
        SqliteTemplateStore(db_path)


def test_parent_that_is_a_file_is_refused(tmp_path: Path) -> None:
    """A data path under a regular file raises StorageError, not OSError."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError):
        SqliteTemplateStore(tmp_path / "file" / "store.db")


def test_read_only_store_reads_but_refuses_writes(
    store: SqliteTemplateStore, db_path: Path
) -> None:
    """Opened read-only (mode=ro), reads work and every write raises a read-only StorageError."""
    store.commit_enrollment(COLLECTION, [block(0)], [subject("alice")])
    with SqliteTemplateStore(db_path, read_only=True) as ro:
        assert ro.get_subject(COLLECTION, "alice") == subject("alice")
        with pytest.raises(StorageError, match="read-only"):
            ro.put_meta("k", b"v")
        with pytest.raises(StorageError, match="read-only"):
            ro.commit_enrollment(COLLECTION, [block(1)], [subject("bob", 1, 0)])
    assert store.count_subjects(COLLECTION) == 1


def test_read_only_on_missing_store_is_refused(db_path: Path) -> None:
    """read_only never creates a file: a missing store raises StorageError."""
    with pytest.raises(StorageError):
        SqliteTemplateStore(db_path, read_only=True)
    assert not db_path.exists()


_UNPRIVILEGED_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from vault.errors import StorageError
    from vault.store import SqliteTemplateStore

    path = Path(sys.argv[1]) / "data" / "store.db"
    SqliteTemplateStore(path).close()
    path.chmod(0o400)
    try:
        SqliteTemplateStore(path)
    except StorageError as e:
        print("file:", e)
    path.chmod(0o600)
    path.parent.chmod(0o500)
    try:
        SqliteTemplateStore(path).put_meta("k", b"v")
    except StorageError as e:
        print("dir:", e)
    """
)


def _as_unprivileged(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    # Root ignores permission bits; drop to 'nobody' so the kernel really refuses.
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permission bits cannot be tested")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *command]


def test_unwritable_file_and_directory_raise_storage_error() -> None:
    """A write-protected store file or directory gives a clear StorageError, never OSError."""
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as scratch:
        os.chmod(scratch, 0o777)  # reachable by the unprivileged user
        result = subprocess.run(
            _as_unprivileged([sys.executable, "-c", _UNPRIVILEGED_SCRIPT, scratch]),
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout
    assert lines[0].startswith("file:") and "Permission denied" in lines[0]
    assert lines[1].startswith("dir:") and "read-only" in lines[1]


def test_full_disk_raises_and_changes_nothing(store: SqliteTemplateStore, db_path: Path) -> None:
    """SQLITE_FULL (provoked with max_page_count) becomes a 'disk is full' StorageError."""
    store.commit_enrollment(COLLECTION, [block(0)], [subject("alice")])
    with store._db.reading("inspect") as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    with pytest.raises(StorageError, match="disk is full"):
        store.commit_enrollment(COLLECTION, [block(1, os.urandom(64 * 1024))], [subject("b", 1)])
    assert store.count_blocks(COLLECTION) == 1
    assert store.get_subject(COLLECTION, "b") is None


def test_closed_store_raises(db_path: Path) -> None:
    """After close every call raises StorageError; close itself is idempotent."""
    store = SqliteTemplateStore(db_path)
    store.close()
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.get_collection(COLLECTION)
    with pytest.raises(StorageError, match="closed"):
        list(store.iter_blocks(COLLECTION))
