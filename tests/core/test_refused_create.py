"""A create the store refuses leaves no wrapped key behind (real OpenBao and SQLite)."""

from __future__ import annotations

import os

import pytest

from tests.core.conftest import MemoryAuditSink
from vault.core.transform_seeds import CatalogSeedSource
from vault.core.vault import VaultCore
from vault.errors import StorageError
from vault.keys.datakey import DataKey
from vault.keys.datakeys import CollectionDataKeys
from vault.store.base import CollectionRecord
from vault.store.sqlite import SqliteTemplateStore
from vault.types import CollectionSpec, ProtectionMode, RequestContext

CTX = RequestContext(actor="test", purpose="access", consent_ref="C-1", legal_basis="consent")


class _RefusingStore(SqliteTemplateStore):
    """Refuses collection rows while ``refuse`` is set, as a full disk would."""

    refuse = True

    def create_collection(self, record: CollectionRecord) -> None:
        if self.refuse:
            raise StorageError("template store: cannot create collection: the disk is full")
        super().create_collection(record)


@pytest.mark.parametrize("mode", ["ckks", "cancelable", "hybrid"])
def test_refused_create_leaves_no_orphan_key_and_a_retry_works(
    tmp_path, keyset, key_service, mode: str
) -> None:
    with _RefusingStore(tmp_path / "vault.db") as store:
        core = VaultCore(
            store=store,
            keyset=keyset,
            audit=MemoryAuditSink(),
            pseudonym_key=DataKey._unsafe_from_material(os.urandom(32), "test"),
            data_keys=CollectionDataKeys(store, key_service),
            transform_seeds=CatalogSeedSource(store, key_service),
        )
        spec = CollectionSpec("faces", ProtectionMode(mode), 64, True, ("access",))
        with pytest.raises(StorageError, match="disk is full"):
            core.create_collection(spec, CTX)
        assert store.list_secrets("data-key") == []
        assert store.list_secrets("transform-seed") == []
        assert store.list_collections() == []

        store.refuse = False
        assert core.create_collection(spec, CTX).name == "faces"
        assert len(store.list_secrets("data-key")) == 1
        assert len(store.list_secrets("transform-seed")) == (mode != "ckks")
