"""Fixtures for the store tests: every store test runs on SQLite and on PostgreSQL.

``store_backend`` is parametrised; a test module about one backend's files
overrides it with a plain fixture returning that backend's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.store.records import collection_record, raw_rows
from vault.store import SqliteTemplateStore, TemplateStore
from vault.store.postgres import PostgresTemplateStore

RawQuery = Callable[[str], list[tuple[Any, ...]]]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request: pytest.FixtureRequest) -> str:
    """Which TemplateStore implementation the test runs against."""
    return str(request.param)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the SQLite store file lives (its directory does not exist yet)."""
    return tmp_path / "data" / "store.db"


def open_backend(store_backend: str, request: pytest.FixtureRequest) -> TemplateStore:
    """A new store of ``store_backend`` (same file / database within one test)."""
    if store_backend == "sqlite":
        return SqliteTemplateStore(request.getfixturevalue("db_path"))
    return PostgresTemplateStore(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_backend: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """An open store with one empty collection."""
    s = open_backend(store_backend, request)
    s.create_collection(collection_record())
    yield s
    s.close()


@pytest.fixture
def raw(store_backend: str, request: pytest.FixtureRequest) -> RawQuery:
    """Run SQL through a fresh, independent connection (not the store's)."""
    if store_backend == "sqlite":
        path = request.getfixturevalue("db_path")
        return lambda sql: raw_rows(path, sql)
    url = request.getfixturevalue("pg_url")

    def query(sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(url) as conn:
            return [tuple(row) for row in conn.execute(sql).fetchall()]  # type: ignore[arg-type]

    return query
