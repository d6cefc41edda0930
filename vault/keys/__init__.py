"""Key management: KEKs live in a key service, DEKs travel only as opaque handles.

The concrete HashiCorp Vault / OpenBao adapter is in :mod:`vault.keys.hcvault` and is
imported explicitly where the service is wired together, so that importing this
package never pulls in hvac.
"""

from vault.keys.base import KekInfo, KeyService, WrappedDataKey
from vault.keys.datakey import DataKey
from vault.keys.dataring import DataKeyRing
from vault.keys.envelope import (
    open_sealed,
    replace_wrapped_key,
    rewrap_sealed,
    seal_with_new_key,
    wrapped_key_of,
)
from vault.keys.sealing import BlobSealer

__all__ = [
    "BlobSealer",
    "DataKey",
    "DataKeyRing",
    "KekInfo",
    "KeyService",
    "WrappedDataKey",
    "open_sealed",
    "replace_wrapped_key",
    "rewrap_sealed",
    "seal_with_new_key",
    "wrapped_key_of",
]
