"""Private plumbing of the SQLite store: private files, connection set-up, schema,
and translation of sqlite3 errors into the vault's error tree."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from vault.errors import StorageError
from vault.store._legacy_secrets import LEGACY_PREFIXES, legacy_secret

__all__ = [
    "SCHEMA_VERSION",
    "ensure_private_dir",
    "open_connection",
    "storage_error",
]

SCHEMA_VERSION = 2

# Foreign keys are immediate (the store writes parents before children), so a
# caller bug surfaces at the offending statement rather than at COMMIT.
_SCHEMA = """
CREATE TABLE schema_version (
    version INTEGER NOT NULL
);
CREATE TABLE collections (
    name                 TEXT PRIMARY KEY,
    mode                 TEXT NOT NULL,
    dim                  INTEGER NOT NULL,
    params_id            INTEGER NOT NULL,
    allow_identification INTEGER NOT NULL CHECK (allow_identification IN (0, 1)),
    purposes             TEXT NOT NULL,
    match_threshold      REAL NOT NULL,
    created_at           REAL NOT NULL,
    key_version          INTEGER NOT NULL,
    config_json          TEXT NOT NULL
);
CREATE TABLE blocks (
    collection  TEXT NOT NULL REFERENCES collections (name),
    block_no    INTEGER NOT NULL CHECK (block_no >= 0),
    blob        BLOB NOT NULL,
    next_slot   INTEGER NOT NULL CHECK (next_slot >= 0),
    live        INTEGER NOT NULL CHECK (live >= 0),
    encryptions INTEGER NOT NULL CHECK (encryptions >= 0),
    PRIMARY KEY (collection, block_no)
);
CREATE TABLE subjects (
    collection  TEXT NOT NULL,
    subject_id  TEXT NOT NULL,
    block_no    INTEGER NOT NULL,
    slot        INTEGER NOT NULL CHECK (slot >= 0),
    key_version INTEGER NOT NULL,
    enrolled_at REAL NOT NULL,
    PRIMARY KEY (collection, subject_id),
    UNIQUE (collection, block_no, slot),
    FOREIGN KEY (collection, block_no) REFERENCES blocks (collection, block_no)
);
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""
# Version 2: the key catalog's secrets get their own table.
_SECRETS_TABLE = """
CREATE TABLE secrets (
    kind    TEXT NOT NULL,
    owner   TEXT NOT NULL,
    slot    INTEGER NOT NULL CHECK (slot >= 0),
    version INTEGER NOT NULL CHECK (version >= 0),
    value   BLOB NOT NULL,
    PRIMARY KEY (kind, owner, slot)
)
"""

# Primary result codes (the low byte of an extended code), from sqlite3.h.
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_TOOBIG = 18
_SQLITE_NOTADB = 26

_REASONS = {
    _SQLITE_BUSY: "the database is locked by another process",
    _SQLITE_LOCKED: "the database is locked by another process",
    _SQLITE_READONLY: "the database is read-only (check file and directory permissions)",
    _SQLITE_IOERR: "a disk I/O error occurred",
    _SQLITE_CORRUPT: "the database file is corrupt",
    _SQLITE_FULL: "the disk is full",
    _SQLITE_CANTOPEN: "the database file cannot be opened (missing or not accessible)",
    _SQLITE_TOOBIG: "a value is larger than SQLite allows",
    _SQLITE_NOTADB: "the file is not a SQLite database",
}


def storage_error(action: str, path: Path, exc: sqlite3.Error) -> StorageError:
    """Build the StorageError for a failed sqlite3 call.

    The message names the action, the file and a plain-language reason; it never
    quotes SQL parameters, so no stored value can leak through an error.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    reason = _REASONS.get(code & 0xFF) if isinstance(code, int) else None
    if reason is None:
        # Fallback for errors raised by the sqlite3 module itself (no code):
        # its messages describe the failure, not the data.
        reason = str(exc) or type(exc).__name__
    return StorageError(f"template store {path}: cannot {action}: {reason}")


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` and any missing parents with mode 0700."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    # Path.mkdir(parents=True) gives intermediate parents the default mode, so
    # each missing level is created explicitly, outermost first.
    for level in reversed(missing):
        # A concurrent creator may win the race; its mode is then its own business.
        with contextlib.suppress(FileExistsError):
            level.mkdir(mode=0o700)
    if not directory.is_dir():
        raise StorageError(f"template store directory {directory} is not a directory")


def _create_private_file(path: Path) -> None:
    # SQLite would create the file honouring the umask (often 0644); creating it
    # first pins 0600, and SQLite gives the -wal and -shm files the same mode.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def open_connection(path: Path, *, read_only: bool) -> sqlite3.Connection:
    """Open ``path`` with the store's pragmas and make sure the schema exists.

    Raises:
        StorageError: the file cannot be opened, is not a store, or has a newer
            schema than this code understands.
    """
    try:
        if read_only:
            uri = f"{path.resolve().as_uri()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            ensure_private_dir(path.parent)
            _create_private_file(path)
            # isolation_level=None: the store issues BEGIN IMMEDIATE/COMMIT itself,
            # so the sqlite3 module never opens implicit transactions behind it.
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except OSError as e:
        raise StorageError(
            f"template store {path}: cannot open file for writing: {e.strerror}"
        ) from e
    except sqlite3.Error as e:
        raise storage_error("open", path, e) from e
    try:
        _configure(conn, read_only=read_only)
        _ensure_schema(conn, path, read_only=read_only)
    except sqlite3.Error as e:
        conn.close()
        raise storage_error("open", path, e) from e
    except StorageError:
        conn.close()
        raise
    return conn


def _configure(conn: sqlite3.Connection, *, read_only: bool) -> None:
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA foreign_keys = ON")
    # Zero freed pages so erased blocks do not survive in the free list.
    conn.execute("PRAGMA secure_delete = ON")
    if read_only:
        return
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"cannot switch to WAL journal (got {mode})")
    # FULL (not NORMAL) in WAL mode syncs the WAL on every commit: an
    # acknowledged enrollment or erasure survives power loss, not just a crash.
    conn.execute("PRAGMA synchronous = FULL")


def _ensure_schema(conn: sqlite3.Connection, path: Path, *, read_only: bool) -> None:
    if not _has_schema(conn):
        if read_only:
            raise StorageError(f"template store {path}: not initialised")
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Checked again under the write lock: another process may have
            # initialised the file between the first look and BEGIN.
            if not _has_schema(conn):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(_SECRETS_TABLE)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    version = _version(conn)
    if version == 1 and read_only:
        # Inspect an old file as it is (fsck before the first start): a private
        # in-memory copy of its secrets stands in for the table it lacks.
        conn.execute(_SECRETS_TABLE.replace("CREATE TABLE", "CREATE TEMP TABLE"))
        _copy_legacy_secrets(conn, delete=False)
        return
    if version == 1:
        _migrate_v1_to_v2(conn)
        version = _version(conn)
    if version != SCHEMA_VERSION:
        raise StorageError(
            f"template store {path}: schema version {version} is not supported "
            f"(this build reads version {SCHEMA_VERSION})"
        )


def _version(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return None if row is None else row[0]


def _migrate_v1_to_v2(conn: sqlite3.Connection) -> None:
    """Move the key catalog's secrets from ``meta`` prefixes into ``secrets``, atomically.

    A crash part-way leaves version 1 untouched (one transaction), so the next
    start simply runs it again.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        if _version(conn) == 1:  # another process may have migrated meanwhile
            conn.execute(_SECRETS_TABLE)
            _copy_legacy_secrets(conn, delete=True)
            conn.execute("UPDATE schema_version SET version = 2")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _copy_legacy_secrets(conn: sqlite3.Connection, *, delete: bool) -> None:
    for prefix in LEGACY_PREFIXES:
        rows = conn.execute(
            "SELECT key, value FROM meta WHERE substr(key, 1, length(?)) = ?", (prefix, prefix)
        ).fetchall()
        for key, value in rows:
            found = legacy_secret(str(key), bytes(value))
            if found is None:
                continue  # not a secret's key: left where it is
            conn.execute(
                "INSERT INTO secrets (kind, owner, slot, version, value) VALUES (?, ?, ?, ?, ?)",
                (*found, bytes(value)),
            )
            if delete:
                conn.execute("DELETE FROM meta WHERE key = ?", (key,))


def _has_schema(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    return row is not None
