"""Fixtures for the SQLite store tests: real database files under tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.store.records import collection_record
from vault.store import SqliteTemplateStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the store file lives (its directory does not exist yet)."""
    return tmp_path / "data" / "store.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteTemplateStore]:
    """An open store with one empty collection."""
    s = SqliteTemplateStore(db_path)
    s.create_collection(collection_record())
    yield s
    s.close()
