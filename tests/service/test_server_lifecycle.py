"""Start-up checks, address rules and graceful shutdown of the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.service.fakes import FakeVault, free_port, served
from vault.client import VaultClient
from vault.config import ServeSettings
from vault.errors import ConfigurationError
from vault.service.server import build_server, run
from vault.transport import is_loopback_host, require_plaintext_allowed, split_host_port

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:50051", ("127.0.0.1", 50051)),
        ("[::1]:0", ("::1", 0)),
        ("localhost:7", ("localhost", 7)),
    ],
)
def test_addresses_split_into_host_and_port(address: str, expected: tuple[str, int]) -> None:
    """IPv4, bracketed IPv6 and names split into host and port."""
    assert split_host_port(address) == expected


@pytest.mark.parametrize("address", ["50051", "host:", ":80", "h:99999", "a:b:c:1", "h:-1"])
def test_malformed_addresses_are_configuration_errors(address: str) -> None:
    """Addresses without a host or a valid port are refused with a clear message."""
    with pytest.raises(ConfigurationError, match="address"):
        split_host_port(address)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("LocalHost", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
        ("::", False),
        ("vault.example.org", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    """Only 127.0.0.0/8, ::1 and localhost count as loopback."""
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize("address", ["0.0.0.0:50051", "[::]:50051", "192.168.1.5:1"])
def test_non_loopback_listen_without_tls_is_refused(address: str) -> None:
    """Serving plaintext on a non-loopback address fails at start-up, naming TLS."""
    with pytest.raises(ConfigurationError, match="without TLS"):
        build_server(FakeVault(), address, max_message_bytes=1024, workers=1)
    with pytest.raises(ConfigurationError, match="without TLS"):
        run(ServeSettings(data_dir=Path("unused"), listen=address))


def test_clients_refuse_non_loopback_targets_without_tls() -> None:
    """The client applies the same rule before opening a channel."""
    with pytest.raises(ConfigurationError, match="without TLS"):
        VaultClient("203.0.113.9:50051")
    assert require_plaintext_allowed("[::1]:50051", role="connect to") == ("::1", 50051)


def test_a_taken_port_is_a_configuration_error() -> None:
    """Binding a port another server holds fails clearly instead of sharing it."""
    with served(FakeVault()) as first, pytest.raises(ConfigurationError, match="cannot listen"):
        build_server(FakeVault(), first.target, max_message_bytes=1024, workers=1)


@contextmanager
def _fake_bootstrap(monkeypatch: pytest.MonkeyPatch, api: FakeVault) -> Iterator[list[str]]:
    events: list[str] = []

    @contextmanager
    def open_vault_services(settings: ServeSettings) -> Iterator[types.SimpleNamespace]:
        events.append(f"open {settings.listen}")
        yield types.SimpleNamespace(core=api, key_admin=None)
        events.append("close")

    module = types.ModuleType("vault.service.bootstrap")
    module.open_vault_services = open_vault_services  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vault.service.bootstrap", module)
    yield events


def test_run_serves_until_stopped_then_closes_the_vault(monkeypatch: pytest.MonkeyPatch) -> None:
    """run() opens the vault via bootstrap, serves, and on stop drains then closes it."""
    api = FakeVault()
    stop, ready = threading.Event(), threading.Event()
    ports: list[int] = []

    def on_ready(port: int) -> None:
        ports.append(port)
        ready.set()

    with _fake_bootstrap(monkeypatch, api) as events:
        settings = ServeSettings(data_dir=Path("unused"), listen="127.0.0.1:0", workers=2)
        worker = threading.Thread(
            target=run, args=(settings,), kwargs={"grace": 1.0, "stop": stop, "on_ready": on_ready}
        )
        worker.start()
        assert ready.wait(10)
        with VaultClient(f"127.0.0.1:{ports[0]}", timeout=5) as client:
            assert client.health_check() == "SERVING"
            assert events == ["open 127.0.0.1:0"]
            stop.set()
            worker.join(10)
        assert not worker.is_alive()
        assert events == ["open 127.0.0.1:0", "close"]


_SERVE_WITH_FAKE = textwrap.dedent(
    """
    import sys, types, contextlib
    from tests.service.fakes import FakeVault

    @contextlib.contextmanager
    def open_vault_services(settings):
        print("vault opened", flush=True)
        yield types.SimpleNamespace(core=FakeVault(), key_admin=None)
        print("vault closed", flush=True)

    module = types.ModuleType("vault.service.bootstrap")
    module.open_vault_services = open_vault_services
    sys.modules["vault.service.bootstrap"] = module
    from vault.cli.main import main
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_process_shuts_down_gracefully_on_signal(tmp_path: Path, signum: int) -> None:
    """`biovault serve` exits 0 on SIGTERM/SIGINT after closing the vault."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _SERVE_WITH_FAKE,
            "serve",
            "--data-dir",
            str(tmp_path),
            "--listen",
            f"127.0.0.1:{port}",
            "--grace",
            "1",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        with VaultClient(f"127.0.0.1:{port}", timeout=5) as client:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if client.health_check() == "SERVING":
                        break
                except Exception:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                time.sleep(0.1)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert stdout.splitlines() == ["vault opened", "vault closed"]
    assert "shutting down" in stderr and "Traceback" not in stderr
