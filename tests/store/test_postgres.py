"""What only the PostgreSQL store has: schema versions, the single-writer lock,
reconnection, credentials and the erasure residue (a real server, no mocks)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.store.records import COLLECTION, block, collection_record, subject
from tests.support.postgres import PostgresServer
from vault.errors import ConfigurationError, StorageError, StorageUnavailable
from vault.store.factory import StoreLocation, open_store
from vault.store.postgres import ERASURE_RESIDUE, PostgresTemplateStore
from vault.store.postgres._schema import SCHEMA_VERSION


def test_schema_version_is_recorded_and_a_newer_one_refused(pg_url: str) -> None:
    """A new database gets the current schema; one from a newer build is not opened."""
    PostgresTemplateStore(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT max(version) FROM biovault_schema").fetchone() == (
            SCHEMA_VERSION,
        )
        conn.execute("INSERT INTO biovault_schema (version) VALUES (%s)", (SCHEMA_VERSION + 7,))
    with pytest.raises(ConfigurationError) as info:
        PostgresTemplateStore(pg_url)
    message = str(info.value)
    assert f"schema version {SCHEMA_VERSION + 7}, newer than this build's" in message
    assert "\n" not in message


def test_a_second_writer_is_refused_until_the_first_closes(pg_url: str) -> None:
    """The session advisory lock admits one serving process per database."""
    first = PostgresTemplateStore(pg_url, writer=True)
    try:
        with pytest.raises(ConfigurationError, match="another biovault service is running"):
            PostgresTemplateStore(pg_url, writer=True)
        reader = PostgresTemplateStore(pg_url, read_only=True)  # fsck may still look
        assert reader.list_collections() == []
        reader.close()
    finally:
        first.close()
    PostgresTemplateStore(pg_url, writer=True).close()


def test_read_only_store_refuses_writes(pg_url: str) -> None:
    """A read-only store reads but every write fails with StorageError."""
    with PostgresTemplateStore(pg_url) as writer:
        writer.create_collection(collection_record())
    with PostgresTemplateStore(pg_url, read_only=True) as ro:
        assert ro.get_collection(COLLECTION) == collection_record()
        with pytest.raises(StorageError, match="read-only"):
            ro.put_meta("k", b"v")


def test_a_password_in_the_url_is_refused(postgres_server: PostgresServer) -> None:
    """Passwords never travel on a command line: a URL holding one is refused."""
    url = f"postgresql://biovault:secret@127.0.0.1:{postgres_server.port}/postgres"
    with pytest.raises(ConfigurationError, match="holds a password") as info:
        PostgresTemplateStore(url)
    assert "secret" not in str(info.value)


def test_the_password_file_is_used(
    postgres_server: PostgresServer, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no libpq password source, the password file logs in; without it, login fails."""
    monkeypatch.delenv("PGPASSFILE")
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    with pytest.raises(StorageError):
        open_store(StoreLocation(tmp_path, pg_url))
    secret = tmp_path / "pw"
    secret.write_text(postgres_server.app_password + "\n")
    store = open_store(StoreLocation(tmp_path, pg_url, password_file=secret))
    assert store.list_collections() == []
    store.close()


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of its own, for tests that stop it."""
    server = PostgresServer()
    server.start()
    previous = os.environ.get("PGPASSFILE")
    os.environ["PGPASSFILE"] = str(server.passfile)
    try:
        yield server
    finally:
        if previous is not None:
            os.environ["PGPASSFILE"] = previous
        server.destroy()


def test_database_restart_is_unavailable_then_recovers(own_server: PostgresServer) -> None:
    """While the server is down calls fail as StorageUnavailable; afterwards the same
    store object works again without being reopened (and keeps the writer lock)."""
    url = own_server.url(own_server.create_database())
    store = PostgresTemplateStore(url, writer=True)
    try:
        store.create_collection(collection_record())
        own_server.stop()
        with pytest.raises(StorageUnavailable, match=r"unreachable|cannot connect") as info:
            store.get_collection(COLLECTION)
        assert "\n" not in str(info.value)
        with pytest.raises(StorageUnavailable):
            store.commit_enrollment(COLLECTION, [block(0)], [subject("alice")])
        own_server.start()
        store.commit_enrollment(COLLECTION, [block(0)], [subject("alice")])
        assert store.count_subjects(COLLECTION) == 1
        with pytest.raises(ConfigurationError, match="another biovault service"):
            PostgresTemplateStore(url, writer=True)
    finally:
        store.close()


def _base_files_containing(server: PostgresServer, pattern: bytes) -> list[str]:
    windows = [pattern[i : i + 32] for i in range(0, len(pattern) - 31, 128)]
    hits = []
    for path in sorted((server.data_dir / "base").rglob("*")):
        if path.is_file() and any(w in path.read_bytes() for w in windows):
            hits.append(str(path.relative_to(server.data_dir)))
    return hits


def test_erasure_residue_is_declared_and_purge_removes_it(
    postgres_server: PostgresServer, pg_url: str
) -> None:
    """The store says erased bytes outlive the commit; after purge() (VACUUM FULL)
    and a checkpoint no table file of the cluster holds them."""
    erased, kept = os.urandom(4096), os.urandom(4096)
    with PostgresTemplateStore(pg_url) as store:
        assert store.erasure_residue == ERASURE_RESIDUE
        store.create_collection(collection_record())
        store.commit_enrollment(
            COLLECTION, [block(0, erased), block(1, kept)], [subject("a", 0), subject("b", 1)]
        )
        postgres_server.checkpoint()
        assert _base_files_containing(postgres_server, erased)  # the scan sees live data
        store.commit_erasure(COLLECTION, "a", replacement=None, drop_block=0)
        store.purge()
        postgres_server.checkpoint()
        assert _base_files_containing(postgres_server, erased) == []
        assert _base_files_containing(postgres_server, kept)
        assert store.get_block(COLLECTION, 1) is not None


def test_concurrent_first_starts_migrate_once(pg_url: str) -> None:
    """Two processes' stores opening a fresh database together apply each migration once."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: PostgresTemplateStore(pg_url), range(4)))
    for store in stores:
        store.close()
    with psycopg.connect(pg_url) as conn:
        versions = conn.execute("SELECT version FROM biovault_schema ORDER BY version").fetchall()
    assert versions == [(n,) for n in range(1, SCHEMA_VERSION + 1)]


def test_url_parameters_reach_libpq(pg_url: str) -> None:
    """sslmode in the URL is honoured: the test server has no TLS, so require fails."""
    with pytest.raises(StorageUnavailable, match="SSL") as info:
        PostgresTemplateStore(pg_url + "?sslmode=require")
    assert "\n" not in str(info.value)
    PostgresTemplateStore(pg_url + "?sslmode=disable").close()


def test_a_malformed_store_url_is_refused_without_repeating_it() -> None:
    """libpq quotes pieces of a string it cannot parse; the refusal must not, since
    a mistyped connection string may hold a password."""
    from vault.errors import ConfigurationError
    from vault.store.postgres._db import describe_url

    with pytest.raises(ConfigurationError, match="not a valid PostgreSQL URL") as refused:
        describe_url("host=db password=x s3cret-value")  # a stray space in the password
    assert "s3cret" not in str(refused.value)
