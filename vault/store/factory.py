"""The one way start-up wiring opens a store: SQLite under a data directory, or a
PostgreSQL database named by a ``postgresql://`` URL.

The PostgreSQL implementation is imported only when a URL asks for it, so the
embedded default needs no PostgreSQL driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vault.audit.rows import LogRows
from vault.errors import ConfigurationError
from vault.store.base import TemplateStore
from vault.store.sqlite import SqliteTemplateStore

__all__ = ["StoreLocation", "is_store_url", "open_log_rows", "open_store"]

_SCHEMES = ("postgresql://", "postgres://")


def is_store_url(value: str | None) -> bool:
    """Whether ``value`` names a PostgreSQL store."""
    return bool(value) and str(value).startswith(_SCHEMES)


@dataclass(frozen=True)
class StoreLocation:
    """Where a vault's store is: ``url`` (PostgreSQL) or else ``data_dir/vault.db``."""

    data_dir: Path
    url: str | None = None
    password_file: Path | None = None

    @property
    def backend(self) -> str:
        """``"postgresql"`` or ``"sqlite"``."""
        return "postgresql" if self.url else "sqlite"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "vault.db"

    def describe(self) -> str:
        """Where, for log lines and messages (no credentials)."""
        if self.url:
            from vault.store.postgres._db import describe_url

            return f"PostgreSQL {describe_url(self.url)}"
        return str(self.sqlite_path)


def _password(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        text = path.expanduser().read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigurationError(f"cannot read {path}: {error.strerror or error}") from None
    if not text:
        raise ConfigurationError(f"{path} is empty; expected the store role's password")
    return text


def open_store(
    location: StoreLocation,
    *,
    read_only: bool = False,
    writer: bool = False,
    namespace: str | None = None,
) -> TemplateStore:
    """Open the store at ``location``.

    Args:
        location: Data directory and optional PostgreSQL URL.
        read_only: Inspect without writing (fsck).
        writer: A serving process: on PostgreSQL, take the single-writer lock
            (SQLite's single file needs none beyond its own locking).
        namespace: PostgreSQL only: keep the tables in this schema (scratch stores).

    Raises:
        ConfigurationError: Bad URL or password file, a second writer, or a
            schema newer than this build (PostgreSQL).
        StorageError: The store cannot be opened.
    """
    if location.url is None:
        return SqliteTemplateStore(location.sqlite_path, read_only=read_only)
    if not is_store_url(location.url):
        raise ConfigurationError("--store-url must be a postgresql://USER@HOST:PORT/DB URL")
    try:
        from vault.store.postgres import PostgresTemplateStore
    except ImportError as error:  # psycopg is an optional extra
        raise ConfigurationError(
            f"--store-url needs the PostgreSQL driver ({error.name} is not installed): "
            "pip install 'biovault[postgres]'"
        ) from None
    return PostgresTemplateStore(
        location.url,
        password=_password(location.password_file),
        read_only=read_only,
        writer=writer,
        namespace=namespace,
    )


def open_log_rows(store: TemplateStore, location: StoreLocation) -> Path | LogRows:
    """Where the audit log of ``store`` keeps its rows: the same PostgreSQL
    database, or ``audit.db`` beside the SQLite store."""
    if location.url is None:
        return location.data_dir / "audit.db"
    from vault.store.postgres import PostgresLogRows, PostgresTemplateStore

    assert isinstance(store, PostgresTemplateStore)
    return PostgresLogRows(store)
