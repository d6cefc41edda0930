"""Where the audit log keeps its rows: the interface the Merkle log writes through.

:class:`~vault.audit._logdb.LogDatabase` keeps them in a private SQLite file next to
the store; :class:`vault.store.postgres.PostgresLogRows` keeps them in the store's
PostgreSQL database. The log itself (tree, signatures, checks on open) is the same.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager

__all__ = ["LogRows"]


class LogRows(ABC):
    """Rows ``(seq, entry, checkpoint)`` plus a few metadata values. Callers
    serialise access (the log holds a lock)."""

    @property
    @abstractmethod
    def name(self) -> str:
        """Where the rows live, for messages (a path or ``host:port/db``)."""

    @abstractmethod
    def get_meta(self, key: str) -> str | None:
        """A metadata value, or None."""

    @abstractmethod
    def put_meta(self, key: str, value: str) -> None:
        """Insert a metadata value (never overwrites)."""

    @abstractmethod
    def append(self, seq: int, entry: bytes, checkpoint: str) -> None:
        """Insert one row and commit it durably."""

    @abstractmethod
    def append_many(self, rows: list[tuple[int, bytes, str]]) -> None:
        """Insert rows in one transaction: one durable commit, all or nothing."""

    @abstractmethod
    def count(self) -> int:
        """Number of rows."""

    @abstractmethod
    def batch(self, start: int, limit: int) -> list[tuple[int, bytes, str]]:
        """Up to ``limit`` rows from ``start`` on, in order."""

    @abstractmethod
    def row(self, seq: int) -> tuple[bytes, str] | None:
        """(entry, checkpoint) of one row, or None."""

    def transaction(self) -> AbstractContextManager[None] | None:
        """A transaction the log's writes run in, or None when every append is its
        own commit (the SQLite file).

        Rows that return one live in a database other writers share: inside it
        the rows take the log's lock (held until the transaction ends), so
        :meth:`batch` from the log's size on shows exactly the entries other
        writers added meanwhile, and no one else appends until it ends. Store
        writes made inside it on the same connection commit with the rows.
        """
        return None

    @abstractmethod
    def close(self) -> None:
        """Release what the rows hold."""
