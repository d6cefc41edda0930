"""The key catalog: one load-or-create path, headers on every secret, nothing missed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vault.blob import HEADER_SIZE, BlobHeader
from vault.errors import ConfigurationError, IntegrityError
from vault.he.params import DEFAULT_PARAMS_ID, get_params
from vault.keys.catalog import AUDIT_ORIGIN_META, KeyCatalog, SecretKind
from vault.keys.datakey import DataKey
from vault.keys.datakeys import CollectionDataKeys
from vault.keys.envelope import seal_with_new_key
from vault.keys.hcvault import HcVaultKeyService
from vault.keys.inventory import replace_wrapped, scan_wrapped
from vault.keys.rotation import RotationOptions, rotate_dek
from vault.store.base import SecretRow
from vault.store.sqlite import SqliteTemplateStore


def _store(tmp_path: Path) -> SqliteTemplateStore:
    return SqliteTemplateStore(tmp_path / "vault.db")


def _value(store: SqliteTemplateStore, kind: SecretKind, owner: str, slot: int) -> bytes:
    row = store.get_secret(kind.value, owner, slot)
    return b"" if row is None else row.value


def _put(store: SqliteTemplateStore, kind: SecretKind, owner: str, slot: int, value: bytes) -> None:
    store.put_secret(SecretRow(kind.value, owner, slot, 0, value))


def test_load_or_create_creates_once_then_opens(
    tmp_path: Path, key_service: HcVaultKeyService
) -> None:
    """The second call opens what the first stored; every value starts with a header."""
    with _store(tmp_path) as store:
        catalog = KeyCatalog(store, key_service)
        seed = os.urandom(32)
        made, existed = catalog.load_or_create(
            SecretKind.TRANSFORM_SEED, "faces", 1, make=lambda: seed
        )
        assert (made, existed) == (seed, False)
        again, existed = catalog.load_or_create(
            SecretKind.TRANSFORM_SEED, "faces", 1, make=lambda: b"other"
        )
        assert (again, existed) == (seed, True)
        key, existed = catalog.load_or_create(SecretKind.DATA_KEY, "faces", 1)
        assert isinstance(key, DataKey) and not existed
        for record in catalog.records():
            stored = _value(store, record.kind, record.owner, record.slot)
            assert BlobHeader.unpack(stored) == record.header
            assert not record.legacy
        assert seed not in _value(store, SecretKind.TRANSFORM_SEED, "faces", 1)
        with pytest.raises(IntegrityError, match="not stored"):
            catalog.load_or_create(SecretKind.DATA_KEY, "faces", 2, create=False)


def test_headerless_secrets_of_old_directories_open_and_migrate(
    tmp_path: Path, key_service: HcVaultKeyService
) -> None:
    """The three kinds stored bare before the catalog are read, then get their header."""
    with _store(tmp_path) as store:
        store.put_meta(AUDIT_ORIGIN_META, b"biovault.local/audit/test")
        wrapped = key_service.generate_data_key()
        _put(store, SecretKind.DATA_KEY, "faces", 1, wrapped.wrapped.encode())
        _put(store, SecretKind.PSEUDONYM_KEY, "vault", 0, wrapped.wrapped.encode())
        aad = b"biovault/audit-signing-key/v1\x00biovault.local/audit/test"
        sealed = seal_with_new_key(key_service, b"s" * 32, aad)
        _put(store, SecretKind.AUDIT_SIGNING_KEY, "vault", 0, sealed)
        catalog = KeyCatalog(store, key_service)
        assert sorted(r.kind.value for r in catalog.records() if r.legacy) == [
            "audit-signing-key", "data-key", "pseudonym-key",
        ]  # fmt: skip
        opened, existed = catalog.load_or_create(SecretKind.AUDIT_SIGNING_KEY)
        assert (opened, existed) == (b"s" * 32, True)
        assert catalog.migrate() == 3 and catalog.migrate() == 0
        stored = _value(store, SecretKind.AUDIT_SIGNING_KEY, "vault", 0)
        assert stored[HEADER_SIZE:] == sealed
        assert catalog.load_or_create(SecretKind.AUDIT_SIGNING_KEY)[0] == b"s" * 32
        assert all(not r.legacy for r in catalog.records())


def test_every_catalog_secret_is_seen_by_kek_rotation(
    tmp_path: Path, key_service: HcVaultKeyService
) -> None:
    """What the catalog stores, the inventory lists and rewraps - no hand-kept list."""
    with _store(tmp_path) as store:
        store.put_meta(AUDIT_ORIGIN_META, b"o")
        catalog = KeyCatalog(store, key_service)
        catalog.load_or_create(SecretKind.AUDIT_SIGNING_KEY, make=lambda: b"a" * 32)
        catalog.load_or_create(SecretKind.PSEUDONYM_KEY)
        catalog.load_or_create(SecretKind.TRANSFORM_SEED, "c", 1, make=lambda: b"t" * 32)
        catalog.load_or_create(SecretKind.CKKS_KEYSET, slot=1, make=lambda: b"k" * 64)
        catalog.load_or_create(SecretKind.DATA_KEY, "c", 1)
        entries = scan_wrapped(store, key_service)
        assert sorted(e.record.kind.value for e in entries) == sorted(k.value for k in SecretKind)
        key_service.rotate_kek()
        for entry in entries:
            new = key_service.rewrap_data_key(entry.wrapped)
            assert replace_wrapped(store, entry, new, key_service)
        assert {e.kek_version for e in scan_wrapped(store, key_service)} == {2}
        assert catalog.load_or_create(SecretKind.TRANSFORM_SEED, "c", 1)[0] == b"t" * 32


def test_a_damaged_secret_is_refused_not_replaced(
    tmp_path: Path, key_service: HcVaultKeyService
) -> None:
    """A record whose envelope fails to open stops with the one refusal; nothing changes."""
    with _store(tmp_path) as store:
        catalog = KeyCatalog(store, key_service)
        catalog.load_or_create(SecretKind.CKKS_KEYSET, slot=1, make=lambda: b"k" * 64)
        original = _value(store, SecretKind.CKKS_KEYSET, "vault", 1)
        value = bytearray(original)
        value[-1] ^= 1
        row = SecretRow(SecretKind.CKKS_KEYSET.value, "vault", 1, 1, bytes(value))
        assert store.replace_secret(row, original)
        with pytest.raises(ConfigurationError, match="Is the service pointed at the Vault"):
            catalog.load_or_create(SecretKind.CKKS_KEYSET, slot=1, make=lambda: b"new")
        assert _value(store, SecretKind.CKKS_KEYSET, "vault", 1) == bytes(value)


def test_a_whole_directory_dek_rotation_reseals_every_sealed_secret(
    tmp_path: Path, key_service: HcVaultKeyService
) -> None:
    """Key set, transform seeds and the audit key all get fresh DEKs; each still opens."""
    params = get_params(DEFAULT_PARAMS_ID)
    with _store(tmp_path) as store:
        store.put_meta(AUDIT_ORIGIN_META, b"o")
        catalog = KeyCatalog(store, key_service)
        catalog.load_or_create(SecretKind.AUDIT_SIGNING_KEY, make=lambda: b"a" * 32)
        catalog.load_or_create(SecretKind.TRANSFORM_SEED, "c", 1, make=lambda: b"t" * 32)
        catalog.load_or_create(SecretKind.CKKS_KEYSET, slot=params.params_id, make=lambda: b"k")
        before = {(r.kind, r.owner): r for r in catalog.records()}
        summary = rotate_dek(
            store, key_service, CollectionDataKeys(store, key_service),
            RotationOptions("dek"), lambda p: None, keyset_params=params,
        )  # fmt: skip
        assert summary.keyset_resealed and summary.remaining_old == 0
        after = {(r.kind, r.owner): r for r in catalog.records()}
        assert after.keys() == before.keys()
        for where, record in after.items():
            assert record.wrapped != before[where].wrapped, where  # a fresh DEK
        keyset = after[(SecretKind.CKKS_KEYSET, "vault")]
        assert keyset.version == 2  # the key set's header counts its reseals
        assert after[(SecretKind.TRANSFORM_SEED, "c")].version == 1  # the seed's names it
        assert catalog.load_or_create(SecretKind.TRANSFORM_SEED, "c", 1)[0] == b"t" * 32
        assert catalog.load_or_create(SecretKind.AUDIT_SIGNING_KEY)[0] == b"a" * 32
