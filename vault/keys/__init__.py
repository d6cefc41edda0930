"""Key management: KEKs live in a key service, DEKs travel only as opaque handles.

The concrete HashiCorp Vault / OpenBao adapter is in :mod:`vault.keys.hcvault` and is
imported explicitly where the service is wired together, so that importing this
package never pulls in hvac.
"""

from vault.keys.base import KeyService, WrappedDataKey
from vault.keys.datakey import DataKey
from vault.keys.envelope import (
    open_sealed,
    replace_wrapped_key,
    rewrap_sealed,
    seal_with_new_key,
    wrapped_key_of,
)

__all__ = [
    "DataKey",
    "KeyService",
    "WrappedDataKey",
    "open_sealed",
    "replace_wrapped_key",
    "rewrap_sealed",
    "seal_with_new_key",
    "wrapped_key_of",
]
