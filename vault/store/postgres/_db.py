"""Private connection holder of the PostgreSQL store: one connection, one lock,
reconnection after the database went away, and psycopg errors translated.

One connection (like the SQLite store) rather than a pool: the service is the
single writer, its session-level advisory lock lives on this connection, and
every write is short. When the server restarts or the network drops, the call in
flight fails with :class:`~vault.errors.StorageUnavailable` (gRPC UNAVAILABLE)
and the next call connects again - no service restart needed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import conninfo
from psycopg.pq import TransactionStatus

from vault.errors import ConfigurationError, StorageError, StorageUnavailable

__all__ = ["LOCK_NAMESPACE", "PgDatabase", "describe_url"]

#: First key of every advisory lock the project takes ('biov').
LOCK_NAMESPACE = 0x62696F76
_WRITER_LOCK = 1
#: First key of the per-collection write locks ('biow'); the second is hashtext(name).
COLLECTION_LOCK_NAMESPACE = 0x62696F77
#: First key of the locks of once-at-a-time tasks ('biox', retention sweeps).
TASK_LOCK_NAMESPACE = 0x62696F78
_CONNECT_TIMEOUT = 10
_IDLE_LOCK_SESSIONS = 4


def describe_url(url: str) -> str:
    """``host:port/db`` of a URL for messages (never the user's password)."""
    try:
        parts = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        # libpq's message quotes pieces of the string, which may be a password.
        raise ConfigurationError(
            "the store URL is not a valid PostgreSQL URL (postgresql://USER@HOST:PORT/DB)"
        ) from None
    if "password" in parts:
        raise ConfigurationError(
            "the store URL holds a password; put it in a file (--store-password-file), "
            "PGPASSFILE / ~/.pgpass or PGPASSWORD instead"
        )
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    return f"{host}:{parts.get('port') or 5432}/{parts.get('dbname') or parts.get('user') or ''}"


class PgDatabase:
    """A PostgreSQL database opened once and shared by every thread of the process.

    Args:
        url: libpq URL, passed to libpq as it is (so ``sslmode`` and the other
            parameters work as documented by PostgreSQL).
        password: From ``--store-password-file``; None leaves it to libpq
            (``PGPASSWORD``, ``PGPASSFILE``, ``~/.pgpass``).
        read_only: Every transaction is read-only (inspection tools).
        writer: Take the single-writer advisory lock (a serving process).
        on_connect: Run on every new connection (schema check), inside the lock.
    """

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        read_only: bool = False,
        writer: bool = False,
        on_connect: Callable[[psycopg.Connection], object] | None = None,
    ) -> None:
        self.where = describe_url(url)
        self._url = url
        self._password = password
        self.read_only = read_only
        self._writer = writer
        self._on_connect = on_connect
        self._lock = threading.RLock()
        self._conn: psycopg.Connection | None = None
        self._closed = False
        # Idle sessions for advisory locks (collection, task): reused, since opening
        # one (connect + authenticate) costs ~9 ms, more than most writes it guards.
        self._lock_sessions: list[psycopg.Connection] = []
        self._sessions_lock = threading.Lock()
        with self._lock:
            self._connection(first=True)

    # --- connecting ------------------------------------------------------------
    def _connect(self, *, plain: bool = False) -> psycopg.Connection:
        """A new session; ``plain``: without the writer lock and set-up (a lock session)."""
        extra: dict[str, Any] = {"connect_timeout": _CONNECT_TIMEOUT,
                                    "application_name": "biovault"}  # fmt: skip
        if self._password is not None:
            extra["password"] = self._password
        try:
            conn = psycopg.connect(self._url, autocommit=True, **extra)
        except psycopg.OperationalError as e:
            raise StorageUnavailable(
                f"PostgreSQL store {self.where}: cannot connect: {_reason(e)}"
            ) from None
        try:
            if self.read_only:
                conn.execute("SET default_transaction_read_only = on")
            if self._writer and not plain:
                taken = conn.execute(
                    "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, _WRITER_LOCK)
                ).fetchone()
                if not taken or not taken[0]:
                    conn.close()
                    raise ConfigurationError(
                        f"another biovault service is running on the store {self.where} "
                        "(it holds the single-writer lock); stop it first"
                    )
            if self._on_connect is not None and not plain:
                self._on_connect(conn)
        except psycopg.Error as e:
            broken = conn.broken
            conn.close()
            raise _translate("open", self.where, e, broken=broken) from None
        except BaseException:
            conn.close()
            raise
        return conn

    def _connection(self, *, first: bool = False) -> psycopg.Connection:
        if self._closed:
            raise StorageError(f"PostgreSQL store {self.where} is closed")
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            self._conn = None
            if conn is not None:
                conn.close()
            conn = self._conn = self._connect()
        return conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # --- using it --------------------------------------------------------------
    @contextmanager
    def reading(self, action: str) -> Iterator[psycopg.Connection]:
        """Hold the connection for reads (each statement its own snapshot)."""
        with self._lock:
            conn = self._connection()
            try:
                yield conn
            except psycopg.Error as e:
                raise self._failed(action, conn, e) from None

    @contextmanager
    def transaction(self, action: str, *, join: bool = False) -> Iterator[psycopg.Connection]:
        """Run the body in one transaction; roll back on any exception.

        Inside another transaction of this connection the body is a savepoint, or
        with ``join`` simply part of the outer transaction (a round trip less each
        way; a failure then fails the outer one, which the caller wants anyway).
        """
        with self._lock:
            conn = self._connection()
            try:
                if join and conn.info.transaction_status == TransactionStatus.INTRANS:
                    yield conn
                    return
                with conn.transaction():
                    yield conn
            except psycopg.Error as e:
                raise self._failed(action, conn, e) from None

    @contextmanager
    def collection_lock(self, collection: str) -> Iterator[None]:
        """Hold a transaction-scoped advisory lock keyed by ``collection`` on a
        session of its own, for as long as the body runs.

        Writers of one collection in several processes take turns; the lock goes
        with the transaction, so with the session if this process dies.
        """
        conn = self._lock_session()
        try:
            with conn.transaction():
                conn.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                    (COLLECTION_LOCK_NAMESPACE, collection),
                )
                yield
        except psycopg.Error as e:
            raise _translate("lock collection", self.where, e, broken=conn.broken) from None
        finally:
            self._idle(conn)

    @contextmanager
    def try_task_lock(self, task: str) -> Iterator[bool]:
        """Yield whether this process got ``task``'s transaction-scoped advisory lock
        (without waiting), held on a session of its own for the body."""
        conn = self._lock_session()
        try:
            with conn.transaction():
                row = conn.execute(
                    "SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))",
                    (TASK_LOCK_NAMESPACE, task),
                ).fetchone()
                yield bool(row and row[0])
        except psycopg.Error as e:
            raise _translate("lock task", self.where, e, broken=conn.broken) from None
        finally:
            self._idle(conn)

    def _lock_session(self) -> psycopg.Connection:
        with self._sessions_lock:
            while self._lock_sessions:
                conn = self._lock_sessions.pop()
                if not (conn.closed or conn.broken):
                    return conn
                conn.close()
        return self._connect(plain=True)

    def _idle(self, conn: psycopg.Connection) -> None:
        """Keep a healthy lock session for the next lock (a few), close the rest."""
        healthy = not (conn.closed or conn.broken)
        healthy = healthy and conn.info.transaction_status == TransactionStatus.IDLE
        with self._sessions_lock:
            if healthy and not self._closed and len(self._lock_sessions) < _IDLE_LOCK_SESSIONS:
                self._lock_sessions.append(conn)
                return
        conn.close()

    def _failed(self, action: str, conn: psycopg.Connection, error: psycopg.Error) -> StorageError:
        translated = _translate(action, self.where, error, broken=conn.broken or conn.closed)
        if isinstance(translated, StorageUnavailable):
            self._drop()  # the next call connects afresh
        return translated

    def autocommit(self, action: str, statement: str) -> None:
        """Run one statement outside any transaction (VACUUM, CHECKPOINT)."""
        with self.reading(action) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    def close(self) -> None:
        """Close the connections (ending the session releases the writer lock)."""
        with self._lock:
            self._closed = True
            self._drop()
        with self._sessions_lock:
            idle, self._lock_sessions = self._lock_sessions, []
        for conn in idle:
            conn.close()


def _reason(error: psycopg.Error) -> str:
    # The primary message describes the failure without quoting stored values
    # (unique-violation details, which name key values, are left out).
    diag = getattr(error, "diag", None)
    primary = diag.message_primary if diag is not None else None
    text = primary or str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text or type(error).__name__


# Connection exceptions, operator intervention (shutdown, crash recovery), and
# "cannot connect now" (starting up / shutting down).
_UNAVAILABLE_STATES = ("08", "57P")


def _translate(
    action: str, where: str, error: psycopg.Error, *, broken: bool = False
) -> StorageError:
    state = error.sqlstate or ""
    if (
        broken
        or state.startswith(_UNAVAILABLE_STATES)
        or (not state and isinstance(error, psycopg.OperationalError | psycopg.InterfaceError))
    ):
        return StorageUnavailable(
            f"PostgreSQL store {where}: cannot {action}: the database is unreachable "
            f"({_reason(error)}); the next request reconnects"
        )
    return StorageError(f"PostgreSQL store {where}: cannot {action}: {_reason(error)}")
