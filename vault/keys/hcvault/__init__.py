"""HashiCorp Vault / OpenBao integration - the only package that imports hvac.

* :class:`HcVaultKeyService` - the production :class:`~vault.keys.base.KeyService`:
  a Transit KEK that wraps and unwraps data keys.
* :class:`EmbeddedOpenBao` - a local OpenBao child process for development only.
"""

from vault.keys.hcvault._retry import RetryPolicy
from vault.keys.hcvault.binary import find_bao_binary
from vault.keys.hcvault.client import KEK_TYPE, HcVaultKeyService
from vault.keys.hcvault.embedded import EmbeddedOpenBao
from vault.keys.hcvault.login import AppRoleLogin, LoginStrategy, TokenLease, TokenLogin

__all__ = [
    "KEK_TYPE",
    "AppRoleLogin",
    "EmbeddedOpenBao",
    "HcVaultKeyService",
    "LoginStrategy",
    "RetryPolicy",
    "TokenLease",
    "TokenLogin",
    "find_bao_binary",
]
