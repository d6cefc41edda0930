"""Fixture plugin: the real `biovault serve` (real OpenBao, gRPC, SQLite, TenSEAL), one
per test module, for tests that drive it through the SDK or the CLI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.openbao import DevServer
from tests.support.service import ServiceProcess


@pytest.fixture(scope="module")
def real_service(
    tmp_path_factory: pytest.TempPathFactory, openbao_dev: DevServer
) -> Iterator[ServiceProcess]:
    """A plaintext loopback service (every caller is the local admin) for one module."""
    root = tmp_path_factory.mktemp("service")
    service = ServiceProcess(
        root / "data", root / "serve.log", vault_addr=openbao_dev.addr, token=openbao_dev.token
    ).start()
    try:
        yield service
    finally:
        service.stop()
