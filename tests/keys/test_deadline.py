"""A gRPC caller's deadline bounds every key-service request made on its behalf."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from vault import deadline
from vault.errors import DeadlineExceeded, KeyServiceUnavailable
from vault.keys.hcvault import HcVaultKeyService


@pytest.fixture
def silent_addr() -> Iterator[tuple[str, list[socket.socket]]]:
    """A loopback server that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    listener.close()
    for conn in accepted:
        conn.close()


def test_a_silent_key_service_cannot_hold_a_call_past_its_deadline(silent_addr) -> None:
    addr, accepted = silent_addr
    service = HcVaultKeyService(addr=addr, token="t", timeout=30.0)
    started = time.monotonic()
    with deadline.bounded_by(0.5), pytest.raises(DeadlineExceeded, match="deadline passed"):
        service.generate_data_key()
    assert time.monotonic() - started < 5.0  # not the 30 s configured timeout
    assert accepted  # the request was really sent and then abandoned


def test_an_expired_deadline_sends_nothing(silent_addr) -> None:
    addr, accepted = silent_addr
    service = HcVaultKeyService(addr=addr, token="t", timeout=30.0)
    with deadline.bounded_by(0.0), pytest.raises(DeadlineExceeded, match="nothing was changed"):
        service.generate_data_key()
    time.sleep(0.1)
    assert accepted == []


def test_without_a_deadline_the_configured_timeout_applies(silent_addr) -> None:
    addr, _ = silent_addr
    service = HcVaultKeyService(addr=addr, token="t", timeout=0.3)
    with pytest.raises(KeyServiceUnavailable):
        service.generate_data_key()


def test_the_deadline_helpers() -> None:
    assert deadline.remaining() is None and deadline.timeout_within(7.0) == 7.0
    with deadline.bounded_by(2.0):
        left = deadline.remaining()
        assert left is not None and 1.0 < left <= 2.0
        assert deadline.timeout_within(7.0) <= 2.0 and deadline.timeout_within(0.5) == 0.5
        deadline.check("anything")
        with deadline.bounded_by(0.0):
            assert deadline.expired() and deadline.timeout_within(7.0) == 0.05
            with pytest.raises(DeadlineExceeded, match="before writing"):
                deadline.check("writing")
        assert not deadline.expired()  # the inner call's deadline is gone with it
    assert deadline.remaining() is None
