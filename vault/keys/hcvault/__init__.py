"""HashiCorp Vault / OpenBao integration - the only package that imports hvac.

* :class:`HcVaultKeyService` - the production :class:`~vault.keys.base.KeyService`:
  a Transit KEK that wraps and unwraps data keys.
"""

from vault.keys.hcvault.client import KEK_TYPE, HcVaultKeyService
from vault.keys.hcvault.login import LoginStrategy, TokenLogin

__all__ = ["KEK_TYPE", "HcVaultKeyService", "LoginStrategy", "TokenLogin"]
