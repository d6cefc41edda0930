"""Retries with backoff on transient failures - for idempotent calls only - and TLS
verification against a CA file.

OpenBao cannot be told to answer 412 or 503 on demand, so the retry tests use a tiny
real HTTP server that replies with scripted status codes and counts requests; the TLS
test runs a real ``bao server -dev -dev-tls``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.openbao import free_loopback_port
from vault.errors import KeyServiceError, KeyServiceUnavailable
from vault.keys.hcvault import HcVaultKeyService, RetryPolicy
from vault.keys.hcvault._retry import is_transient
from vault.keys.hcvault.process import start_tied_child, stop_child

_DATAKEY = {
    "data": {
        "plaintext": base64.b64encode(os.urandom(32)).decode(),
        "ciphertext": "vault:v1:" + base64.b64encode(os.urandom(60)).decode(),
    }
}


class _Scripted(ThreadingHTTPServer):
    """Answers each request with the next scripted status (then 200), counting paths."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Scripted

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.paths.append(self.path)
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        body = json.dumps(_DATAKEY if status == 200 else {"errors": ["scripted"]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_POST

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[_Scripted]:
    server = _Scripted([])
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _service(server: _Scripted, retries: int = 3) -> HcVaultKeyService:
    host, port = server.server_address[:2]
    return HcVaultKeyService(
        addr=f"http://{host}:{port}",
        token="t",
        retry=RetryPolicy(retries=retries, base_delay=0.01, max_delay=0.02),
    )


@pytest.mark.parametrize("statuses", [[503, 503], [412], [500, 502, 504]])
def test_idempotent_calls_retry_transient_failures(
    scripted: _Scripted, statuses: list[int]
) -> None:
    """5xx and 412 are retried with backoff until the call succeeds."""
    scripted.statuses = list(statuses)
    assert _service(scripted).generate_data_key().wrapped.startswith("vault:v1:")
    assert len(scripted.paths) == len(statuses) + 1


def test_retries_are_bounded(scripted: _Scripted) -> None:
    """After the last retry the outage is reported as KeyServiceUnavailable."""
    scripted.statuses = [503] * 10
    with pytest.raises(KeyServiceUnavailable, match="unavailable"):
        _service(scripted, retries=2).generate_data_key()
    assert len(scripted.paths) == 3


def test_rotate_is_never_retried(scripted: _Scripted) -> None:
    """A lost answer to rotate may hide a new key version: rotate is sent exactly once."""
    scripted.statuses = [503, 503]
    with pytest.raises(KeyServiceUnavailable):
        _service(scripted).rotate_kek()
    assert scripted.paths == ["/v1/transit/keys/biovault-kek/rotate"]


def test_client_errors_are_not_retried(scripted: _Scripted) -> None:
    """A refusal (400, 403) is final: one request, a KeyServiceError that is no outage."""
    for status in (400, 403):
        scripted.paths.clear()
        scripted.statuses = [status]
        with pytest.raises(KeyServiceError) as caught:
            _service(scripted).generate_data_key()
        assert not isinstance(caught.value, KeyServiceUnavailable)
        assert len(scripted.paths) == 1


def test_timeouts_and_tls_failures_are_not_transient() -> None:
    """Waiting again would only multiply a slow server's delay; TLS will not heal."""
    import requests

    assert not is_transient(requests.exceptions.ReadTimeout())
    assert not is_transient(requests.exceptions.SSLError())
    assert is_transient(requests.exceptions.ConnectionError())


def test_tls_is_verified_against_the_ca_file(bao_binary: str, tmp_path: Path) -> None:
    """With the server's CA file the client connects; without it, it refuses clearly."""
    port = free_loopback_port()
    token = secrets.token_urlsafe(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(tmp_path)
    argv = [
        bao_binary,
        "server",
        "-dev",
        "-dev-tls",
        f"-dev-tls-cert-dir={tmp_path}",
        f"-dev-root-token-id={token}",
        f"-dev-listen-address=127.0.0.1:{port}",
    ]
    child = start_tied_child(argv, log_path=tmp_path / "bao.log", env=env)
    try:
        ca_file = tmp_path / "vault-ca.pem"
        addr = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while not ca_file.exists():
            assert time.monotonic() < deadline, "TLS dev server wrote no CA file"
            time.sleep(0.05)
        trusted = HcVaultKeyService(addr=addr, token=token, ca_file=str(ca_file), timeout=2.0)
        while not trusted.is_available():
            assert time.monotonic() < deadline, "TLS dev server did not start"
            time.sleep(0.1)
        trusted.ensure_transit()
        assert trusted.kek_version() == 1
        untrusted = HcVaultKeyService(addr=addr, token=token)
        with pytest.raises(KeyServiceError, match="TLS verification failed") as caught:
            untrusted.kek_version()
        assert not isinstance(caught.value, KeyServiceUnavailable)
        assert token not in str(caught.value)
        trusted.close()
        untrusted.close()
    finally:
        stop_child(child)


def test_calls_fail_fast_while_the_last_health_check_saw_the_server_down(
    scripted: _Scripted,
) -> None:
    """After a failed health check, calls report the outage at once instead of tying
    up a request thread in retries; a good check lets them through again."""
    service = _service(scripted)
    scripted.server_close()  # nothing answers on that port any more
    assert not service.is_available()
    started = time.monotonic()
    with pytest.raises(KeyServiceUnavailable, match="last health check"):
        service.generate_data_key()
    assert time.monotonic() - started < 0.2
    assert scripted.paths == []
