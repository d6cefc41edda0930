"""Core tests: real TenSEAL and a real SQLite file; audit and pseudonym key are local fakes."""

import os

import pytest

from vault.audit.base import AuditEvent, AuditSink
from vault.core.vault import VaultCore
from vault.he.keyset import CkksKeySet
from vault.he.params import DEFAULT_PARAMS_ID, get_params
from vault.keys.datakey import DataKey
from vault.store.sqlite import SqliteTemplateStore


class MemoryAuditSink(AuditSink):
    """Collects events in a list (unit-test fake)."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def append(self, event: AuditEvent) -> None:
        self.events.append(event)


@pytest.fixture(scope="session")
def keyset() -> CkksKeySet:
    return CkksKeySet.generate(get_params(DEFAULT_PARAMS_ID))


@pytest.fixture
def audit() -> MemoryAuditSink:
    return MemoryAuditSink()


@pytest.fixture
def make_core(tmp_path, keyset, audit):
    """Build a core over a SQLite file; calling it again reopens the same file."""
    key = DataKey._unsafe_from_material(os.urandom(32), "test")
    opened = []

    def make() -> VaultCore:
        store = SqliteTemplateStore(tmp_path / "vault.db")
        opened.append(store)
        return VaultCore(store=store, keyset=keyset, audit=audit, pseudonym_key=key)

    yield make
    for store in opened:
        store.close()
