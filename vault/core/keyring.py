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

from vault.blob import BlobHeader, BlobKind, SchemeId, split_blob
from vault.core.datakeys import key_data
from vault.errors import ConfigurationError, IntegrityError, KeyServiceError, KeyServiceUnavailable
from vault.he.keyset import CkksKeySet
from vault.he.params import CkksParams
from vault.keys.base import KeyService
from vault.keys.datakey import DataKey
from vault.keys.envelope import open_sealed, seal_with_new_key
from vault.store.base import TemplateStore

__all__ = ["load_or_create_keyset", "load_or_create_pseudonym_key", "reseal_keyset"]

log = logging.getLogger(__name__)

_PSEUDONYM_KEY = "audit.pseudonym-key.wrapped"


def _keyset_meta_key(params: CkksParams) -> str:
    return f"ckks.keyset.params-{params.params_id}"


def _keyset_aad(params: CkksParams) -> bytes:
    return f"biovault/ckks-keyset/v1/params-{params.params_id}".encode()


def _refuse(what: str, error: Exception) -> ConfigurationError:
    return ConfigurationError(
        f"the key service cannot unwrap this data directory's {what}: {error}. "
        "Is the service pointed at the Vault that created it? Nothing was changed."
    )


def load_or_create_keyset(store: TemplateStore, keys: KeyService, params: CkksParams) -> CkksKeySet:
    """Unwrap the stored CKKS key set, or create, wrap and store a new one."""
    stored = store.get_meta(_keyset_meta_key(params))
    if stored is not None:
        header, sealed = split_blob(stored)
        if header.scheme != SchemeId.KEYSET or header.params_id != params.params_id:
            raise IntegrityError("stored CKKS key set has an unexpected header")
        try:
            serialized = open_sealed(keys, bytes(sealed), _keyset_aad(params))
        except KeyServiceUnavailable:
            raise
        except (KeyServiceError, IntegrityError) as e:
            raise _refuse("CKKS key set", e) from e
        return CkksKeySet.unsafe_from_serialized(params, serialized)
    log.info("creating a new CKKS key set (parameter set %d)", params.params_id)
    keyset = CkksKeySet.generate(params)
    sealed_bytes = seal_with_new_key(keys, keyset.unsafe_serialize(), _keyset_aad(params))
    header = BlobHeader(SchemeId.KEYSET, params.params_id, 1, BlobKind.WRAPPED_SECRET)
    store.put_meta(_keyset_meta_key(params), header.pack() + sealed_bytes)
    return keyset


def load_or_create_pseudonym_key(store: TemplateStore, keys: KeyService) -> DataKey:
    """The key that pseudonymises subject ids in audit entries."""
    stored = store.get_meta(_PSEUDONYM_KEY)
    if stored is not None:
        try:
            return keys.unwrap_data_key(stored.decode())
        except KeyServiceUnavailable:
            raise
        except KeyServiceError as e:
            raise _refuse("pseudonymisation key", e) from e
    fresh = keys.generate_data_key()
    store.put_meta(_PSEUDONYM_KEY, fresh.wrapped.encode())
    return fresh.key


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
    meta_key = _keyset_meta_key(params)
    stored = store.get_meta(meta_key)
    if stored is None:
        return False
    header, sealed = split_blob(stored)
    if header.scheme != SchemeId.KEYSET or header.params_id != params.params_id:
        raise IntegrityError("stored CKKS key set has an unexpected header")
    serialized = open_sealed(keys, bytes(sealed), _keyset_aad(params))
    resealed = seal_with_new_key(keys, serialized, _keyset_aad(params))
    del serialized
    fresh = BlobHeader(SchemeId.KEYSET, params.params_id, header.key_version + 1, header.kind)
    return key_data(store).replace_meta(meta_key, stored, fresh.pack() + resealed)
