"""How the vault authenticates to HashiCorp Vault / OpenBao.

A :class:`LoginStrategy` turns configuration into a client token and says what it
knows about that token's lease:

* :class:`TokenLogin` - a pre-issued token (development, or one kept fresh by a
  sidecar agent). It cannot log in again; if it is renewable it is renewed.
* :class:`AppRoleLogin` - role id + secret id exchanged for a short-lived token.
  The secret id is read from its file at every login, so an agent that delivers
  a fresh (even single-use) secret id keeps working; the token is renewed at half
  its TTL and replaced by a new login when it can no longer be renewed.

Strategies raise the client library's own exceptions: the key service classifies
them (retry, log in again, or fail) and translates them into the vault's errors.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault.errors import ConfigurationError

__all__ = ["AppRoleLogin", "LoginStrategy", "TokenLease", "TokenLogin"]


@dataclass(frozen=True)
class TokenLease:
    """What is known about the current token's lifetime (no secret in it).

    ``ttl`` is the lease granted at login or renewal in seconds: 0 means the token
    never expires, None that it is not known yet (ask the server).
    """

    ttl: float | None
    renewable: bool
    obtained_at: float  # time.monotonic() when the lease was granted

    @property
    def expires_at(self) -> float | None:
        """Monotonic time the token stops working, or None if it does not expire."""
        return None if not self.ttl else self.obtained_at + self.ttl

    @property
    def renew_at(self) -> float | None:
        """When to renew: half-way through the lease (None: never)."""
        return None if not self.ttl else self.obtained_at + self.ttl / 2


class LoginStrategy(ABC):
    """Obtains a token for an hvac client."""

    #: Whether :meth:`login` can produce a *new* token when the current one dies.
    can_login_again: bool = False

    @abstractmethod
    def login(self, client: Any) -> TokenLease:
        """Authenticate ``client`` (an ``hvac.Client``), leaving a usable token on it.

        Raises:
            ConfigurationError: Local credentials are missing or unreadable.
            hvac.exceptions.VaultError, requests.RequestException: The server
                refused or could not be reached (translated by the caller).
        """

    @abstractmethod
    def secrets(self) -> tuple[str, ...]:
        """Credential strings that must be scrubbed from any error message."""

    @property
    def method(self) -> str:
        """Short name of the method for status output, e.g. ``"approle"``."""
        return "token"


class TokenLogin(LoginStrategy):
    """Use a pre-issued token as is (development, or a token from a sidecar agent)."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        if not token or not token.strip():
            raise ConfigurationError("a key service token is required but was empty")
        if any(c.isspace() for c in token):
            raise ConfigurationError("the key service token contains whitespace")
        self._token = token

    def login(self, client: Any) -> TokenLease:
        """Attach the token; no network round trip (its lease is looked up later)."""
        client.token = self._token
        return TokenLease(ttl=None, renewable=False, obtained_at=time.monotonic())

    def secrets(self) -> tuple[str, ...]:
        """The token itself."""
        return (self._token,)

    def __repr__(self) -> str:
        return "TokenLogin(token=<hidden>)"


class AppRoleLogin(LoginStrategy):
    """Log in with an AppRole role id and a secret id read from a file.

    Args:
        role_id: The role id (an identifier, but still kept out of messages).
        secret_id_file: File holding the secret id; re-read at every login.
        mount: Mount path of the AppRole auth method.

    Raises:
        ConfigurationError: Empty role id or mount.
    """

    __slots__ = ("_last_secret", "_mount", "_role_id", "_secret_id_file")
    can_login_again = True

    def __init__(self, role_id: str, *, secret_id_file: Path, mount: str = "approle") -> None:
        role_id = role_id.strip()
        if not role_id or any(c.isspace() for c in role_id):
            raise ConfigurationError("the AppRole role id is empty or contains whitespace")
        if not mount.strip("/"):
            raise ConfigurationError("the AppRole mount path is empty")
        self._role_id = role_id
        self._secret_id_file = Path(secret_id_file)
        self._mount = mount.strip("/")
        self._last_secret = ""

    @property
    def method(self) -> str:
        """``"approle"``."""
        return "approle"

    def _secret_id(self) -> str:
        try:
            secret = self._secret_id_file.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigurationError(
                f"cannot read the AppRole secret id file {self._secret_id_file}: "
                f"{e.strerror or type(e).__name__}"
            ) from None
        except UnicodeDecodeError:
            raise ConfigurationError(
                f"the AppRole secret id file {self._secret_id_file} is not text"
            ) from None
        if not secret or any(c.isspace() for c in secret):
            raise ConfigurationError(
                f"the AppRole secret id file {self._secret_id_file} is empty or malformed"
            )
        return secret

    def check(self) -> None:
        """Fail early (at start-up) if the secret id file cannot be read.

        Raises:
            ConfigurationError: The file is missing, unreadable, empty or malformed.
        """
        self._secret_id()

    def login(self, client: Any) -> TokenLease:
        """Exchange role id + secret id for a token and attach it to ``client``."""
        secret = self._secret_id()
        self._last_secret = secret
        started = time.monotonic()
        response = client.auth.approle.login(
            role_id=self._role_id, secret_id=secret, use_token=True, mount_point=self._mount
        )
        auth = response["auth"]
        return TokenLease(
            ttl=float(auth.get("lease_duration") or 0),
            renewable=bool(auth.get("renewable")),
            obtained_at=started,
        )

    def secrets(self) -> tuple[str, ...]:
        """Role id and the last secret id used."""
        return (self._role_id, self._last_secret)

    def __repr__(self) -> str:
        return f"AppRoleLogin(mount={self._mount!r}, secret_id_file={str(self._secret_id_file)!r})"
