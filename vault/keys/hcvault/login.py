"""How the vault authenticates to HashiCorp Vault / OpenBao.

A :class:`LoginStrategy` turns configuration into a client token. Only token login
exists today; AppRole (role id + secret id exchanged for a short-lived token) slots in
as another strategy without touching :class:`~vault.keys.hcvault.client.HcVaultKeyService`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from vault.errors import ConfigurationError

__all__ = ["LoginStrategy", "TokenLogin"]


class LoginStrategy(ABC):
    """Obtains a token for an hvac client."""

    @abstractmethod
    def login(self, client: Any) -> None:
        """Authenticate ``client`` (an ``hvac.Client``), leaving a usable token on it.

        Raises:
            KeyServiceError: The key service refused the credentials.
            KeyServiceUnavailable: The key service could not be reached.
        """

    @abstractmethod
    def secrets(self) -> tuple[str, ...]:
        """Credential strings that must be scrubbed from any error message."""


class TokenLogin(LoginStrategy):
    """Use a pre-issued token as is (development, or a token from a sidecar agent)."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        if not token or not token.strip():
            raise ConfigurationError("a key service token is required but was empty")
        if any(c.isspace() for c in token):
            raise ConfigurationError("the key service token contains whitespace")
        self._token = token

    def login(self, client: Any) -> None:
        """Attach the token; no network round trip is needed."""
        client.token = self._token

    def secrets(self) -> tuple[str, ...]:
        """The token itself."""
        return (self._token,)

    def __repr__(self) -> str:
        return "TokenLogin(token=<hidden>)"
