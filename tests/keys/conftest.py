"""Fixtures shared by the key tests."""

from __future__ import annotations

import pytest

from tests.support.openbao import free_loopback_port


@pytest.fixture
def dead_addr() -> str:
    """A loopback address where nothing listens."""
    return f"http://127.0.0.1:{free_loopback_port()}"
