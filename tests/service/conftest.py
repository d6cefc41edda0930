"""Fixtures: a fake core behind a real gRPC server on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests.service.fakes import FakeVault, Served, served
from vault.client import VaultClient


@pytest.fixture
def fake() -> FakeVault:
    """A fresh in-memory core."""
    return FakeVault()


@pytest.fixture
def live(fake: FakeVault) -> Iterator[Served]:
    """The fake core served on 127.0.0.1:<free port>."""
    with served(fake, health_interval=0.05) as running:
        yield running


@pytest.fixture
def client(live: Served) -> Iterator[VaultClient]:
    """A client connected to :func:`live`."""
    with live.client(timeout=10.0) as connected:
        yield connected


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator."""
    return np.random.default_rng(20240611)
