"""Private schema of the PostgreSQL store: numbered migrations applied at start-up.

Each migration runs once, in order, in one transaction, while the process holds a
session-level advisory lock taken before it looks at the version again, so two
processes starting together cannot both apply it. A
database whose schema is newer than this build knows is refused with one line
(and nothing is changed): running old code on a newer layout could corrupt it.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from vault.errors import ConfigurationError
from vault.store.postgres._db import LOCK_NAMESPACE

__all__ = ["SCHEMA_VERSION", "ensure_schema"]

_MIGRATION_LOCK = 2

# Blobs are ciphertext: compressing them wastes CPU, and EXTERNAL (out of line,
# uncompressed) lets substring() read a header without fetching the whole value.
_V1 = [
    """CREATE TABLE biovault_schema (
        version integer NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE collections (
        name                 text PRIMARY KEY,
        mode                 text NOT NULL,
        dim                  integer NOT NULL,
        params_id            integer NOT NULL,
        allow_identification boolean NOT NULL,
        purposes             text NOT NULL,
        match_threshold      double precision NOT NULL,
        created_at           double precision NOT NULL,
        key_version          integer NOT NULL,
        config_json          text NOT NULL
    )""",
    """CREATE TABLE blocks (
        collection  text NOT NULL REFERENCES collections (name),
        block_no    integer NOT NULL CHECK (block_no >= 0),
        blob        bytea NOT NULL,
        next_slot   integer NOT NULL CHECK (next_slot >= 0),
        live        integer NOT NULL CHECK (live >= 0),
        encryptions integer NOT NULL CHECK (encryptions >= 0),
        PRIMARY KEY (collection, block_no)
    )""",
    "ALTER TABLE blocks ALTER COLUMN blob SET STORAGE EXTERNAL",
    """CREATE TABLE subjects (
        collection  text NOT NULL,
        subject_id  text NOT NULL,
        block_no    integer NOT NULL,
        slot        integer NOT NULL CHECK (slot >= 0),
        key_version integer NOT NULL,
        enrolled_at double precision NOT NULL,
        PRIMARY KEY (collection, subject_id),
        UNIQUE (collection, block_no, slot),
        FOREIGN KEY (collection, block_no) REFERENCES blocks (collection, block_no)
    )""",
    """CREATE TABLE meta (
        key   text PRIMARY KEY,
        value bytea NOT NULL
    )""",
    """CREATE TABLE secrets (
        kind    text NOT NULL,
        owner   text NOT NULL,
        slot    integer NOT NULL CHECK (slot >= 0),
        version integer NOT NULL CHECK (version >= 0),
        value   bytea NOT NULL,
        PRIMARY KEY (kind, owner, slot)
    )""",
    """CREATE TABLE audit_meta (
        key   text PRIMARY KEY,
        value text NOT NULL
    )""",
    """CREATE TABLE audit_entries (
        seq        bigint PRIMARY KEY CHECK (seq >= 0),
        entry      bytea NOT NULL,
        checkpoint text NOT NULL
    )""",
]

# A change counter per collection, bumped by every enrolment, erasure and settings
# change: a front-end sharing the store compares it before answering (read-your-writes).
_V2 = ["ALTER TABLE collections ADD COLUMN generation bigint NOT NULL DEFAULT 0"]

#: Migration n (1-based) brings the schema from version n - 1 to n.
_MIGRATIONS: list[list[str]] = [_V1, _V2]
SCHEMA_VERSION = len(_MIGRATIONS)


def _version(conn: psycopg.Connection) -> int:
    exists = conn.execute("SELECT to_regclass('biovault_schema') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute("SELECT max(version) FROM biovault_schema").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _check(version: int, where: str, *, read_only: bool) -> None:
    if version > SCHEMA_VERSION:
        raise ConfigurationError(
            f"PostgreSQL store {where} has schema version {version}, newer than this "
            f"build's {SCHEMA_VERSION}: upgrade biovault (nothing was changed)"
        )
    if read_only and version < SCHEMA_VERSION:
        raise ConfigurationError(
            f"PostgreSQL store {where} has schema version {version}, this build needs "
            f"{SCHEMA_VERSION}: start the service once to migrate it"
        )


def ensure_schema(
    conn: psycopg.Connection, where: str, *, read_only: bool, namespace: str | None = None
) -> int:
    """Apply missing migrations (not when ``read_only``); return the schema version.

    ``namespace`` (a PostgreSQL schema, already first on the search path) is
    created if missing, under the same lock.

    Raises:
        ConfigurationError: The schema is newer than this build, or (read-only)
            missing or older.
    """
    version = _version(conn)
    if version == SCHEMA_VERSION:
        return version
    _check(version, where, read_only=read_only)
    # A session lock taken outside any transaction: the version is then read by a
    # fresh statement after whoever held the lock has committed.
    conn.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_NAMESPACE, _MIGRATION_LOCK))
    try:
        if namespace is not None:
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(namespace))
            )
        version = _version(conn)  # another process may have migrated meanwhile
        _check(version, where, read_only=read_only)
        with conn.transaction():
            for number in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[number - 1]:
                    conn.execute(statement)  # type: ignore[arg-type]
                conn.execute("INSERT INTO biovault_schema (version) VALUES (%s)", (number,))
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, _MIGRATION_LOCK))
    return SCHEMA_VERSION
