"""Long-lived secrets of a data directory, kept wrapped through the key service.

* the CKKS key set (secret key inside): envelope-encrypted under a fresh DEK that
  the Vault Transit KEK wraps; stored with a blob header in the store's metadata;
* the pseudonymisation key for audit entries: a DEK stored only in wrapped form.

Nothing here is ever written in clear. If the store holds wrapped keys that the
key service cannot unwrap (another Vault, a deleted KEK) we stop with a clear
error and never generate replacements over them.
"""

from __future__ import annotations

import logging

from vault.errors import IntegrityError
from vault.he.keyset import CkksKeySet
from vault.he.params import CkksParams
from vault.keys.base import KeyService
from vault.keys.catalog import KeyCatalog, SecretKind
from vault.keys.datakey import DataKey
from vault.keys.datakeys import key_data
from vault.store.base import TemplateStore

__all__ = ["load_or_create_keyset", "load_or_create_pseudonym_key", "reseal_keyset"]

log = logging.getLogger(__name__)


def load_or_create_keyset(store: TemplateStore, keys: KeyService, params: CkksParams) -> CkksKeySet:
    """Unwrap the stored CKKS key set, or create, wrap and store a new one."""
    catalog = KeyCatalog(store, keys)
    _check_keyset_header(catalog, params)
    made: list[CkksKeySet] = []

    def make() -> bytes:
        log.info("creating a new CKKS key set (parameter set %d)", params.params_id)
        made.append(CkksKeySet.generate(params))
        return made[0].unsafe_serialize()

    serialized, existed = catalog.load_or_create(
        SecretKind.CKKS_KEYSET, slot=params.params_id, make=make
    )
    if not existed:
        return made[0]
    assert isinstance(serialized, bytes)
    return CkksKeySet.unsafe_from_serialized(params, serialized)


def _check_keyset_header(catalog: KeyCatalog, params: CkksParams) -> None:
    record = catalog.record(SecretKind.CKKS_KEYSET, slot=params.params_id)
    if record is not None and record.header.params_id != params.params_id:
        raise IntegrityError("stored CKKS key set has an unexpected header")


def load_or_create_pseudonym_key(store: TemplateStore, keys: KeyService) -> DataKey:
    """The key that pseudonymises subject ids in audit entries."""
    key, _ = KeyCatalog(store, keys).load_or_create(SecretKind.PSEUDONYM_KEY)
    assert isinstance(key, DataKey)
    return key


def reseal_keyset(store: TemplateStore, keys: KeyService, params: CkksParams) -> bool:
    """Re-encrypt the stored key set under a fresh DEK (a DEK rotation of the key set).

    The envelope is opened and sealed again in memory; the header's key version
    counts the reseals. Compare-and-swap, so a concurrent change is never lost.

    Returns:
        True if resealed; False if there is no stored key set or it changed meanwhile.

    Raises:
        IntegrityError: The stored key set does not open.
        KeyServiceError: The key service refused (KeyServiceUnavailable if unreachable).
    """
    key_data(store)
    catalog = KeyCatalog(store, keys)
    _check_keyset_header(catalog, params)
    record = catalog.record(SecretKind.CKKS_KEYSET, slot=params.params_id)
    return record is not None and catalog.reseal(record)
