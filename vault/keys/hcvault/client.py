"""A :class:`~vault.keys.base.KeyService` backed by HashiCorp Vault / OpenBao Transit.

The key-encryption key (KEK) is a Transit key that is created non-exportable and
never leaves the key service. Data keys are produced by ``datakey/plaintext`` (Vault
returns the fresh key and its wrapped form in one call) and later recovered by
``decrypt``. Plaintext key bytes are decoded from the response and handed straight to
a :class:`~vault.keys.datakey.DataKey` handle; they are never logged or put in an
error message.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import threading
from typing import Any
from urllib.parse import urlsplit

import hvac
import hvac.exceptions

from vault.errors import ConfigurationError, WrappedKeyRejected
from vault.keys.base import KeyService, WrappedDataKey
from vault.keys.datakey import DataKey
from vault.keys.hcvault._errors import translated_errors
from vault.keys.hcvault.login import LoginStrategy, TokenLogin

__all__ = ["KEK_TYPE", "HcVaultKeyService"]

KEK_TYPE = "aes256-gcm96"
_DATA_KEY_BITS = 256
_WRAPPED_RE = re.compile(r"vault:v([1-9][0-9]{0,9}):[A-Za-z0-9+/]+={0,2}")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_MOUNT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,127})*")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _checked_addr(addr: str, *, allow_insecure_http: bool) -> str:
    parts = urlsplit(addr)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"key service address {addr!r} must look like https://host:8200")
    # Unwrapped data keys travel in the response body, so plain HTTP is only
    # acceptable when the bytes never leave this machine.
    if parts.scheme == "http" and not _is_loopback(parts.hostname) and not allow_insecure_http:
        raise ConfigurationError(
            f"key service address {addr!r} uses plain http to a non-loopback host; "
            "data keys would cross the network in clear - use https"
        )
    return addr.rstrip("/")


def _wrapped_version(wrapped: str) -> int:
    match = _WRAPPED_RE.fullmatch(wrapped) if isinstance(wrapped, str) else None
    if match is None:
        raise WrappedKeyRejected("wrapped data key is not a Transit ciphertext (vault:vN:...)")
    return int(match.group(1))


class HcVaultKeyService(KeyService):
    """KEK in a Vault/OpenBao Transit mount; DEKs wrapped and unwrapped there.

    Calls are synchronous and guarded by a lock, so one instance may be shared by
    the service's worker threads; Transit traffic is rare (key loading, rotation).
    """

    def __init__(
        self,
        *,
        addr: str,
        token: str | None = None,
        transit_mount: str = "transit",
        kek_name: str = "biovault-kek",
        ca_file: str | None = None,
        timeout: float = 10.0,
        login: LoginStrategy | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        """Configure the client; no network traffic happens until the first call.

        Args:
            addr: Base address, e.g. ``https://vault.example:8200``.
            token: A Vault token; shorthand for ``login=TokenLogin(token)``.
            transit_mount: Path of the Transit secrets engine.
            kek_name: Name of the Transit key used as KEK.
            ca_file: CA bundle to verify the server's TLS certificate.
            timeout: Seconds per HTTP request.
            login: How to authenticate; give exactly one of ``token`` and ``login``.
            allow_insecure_http: Permit plain http to a non-loopback host (unsafe).

        Raises:
            ConfigurationError: Inconsistent or malformed settings.
        """
        if (token is None) == (login is None):
            raise ConfigurationError("give exactly one of a key service token or a login strategy")
        if not _NAME_RE.fullmatch(kek_name):
            raise ConfigurationError(f"KEK name {kek_name!r} is not a valid Transit key name")
        transit_mount = transit_mount.strip("/")
        if not _MOUNT_RE.fullmatch(transit_mount):
            raise ConfigurationError(f"Transit mount {transit_mount!r} is not a valid path")
        if not timeout > 0:
            raise ConfigurationError("key service timeout must be positive")
        if ca_file is not None and not os.path.isfile(ca_file):
            raise ConfigurationError(f"key service CA file {ca_file!r} does not exist")
        self._addr = _checked_addr(addr, allow_insecure_http=allow_insecure_http)
        self._login = login if login is not None else TokenLogin(token or "")
        self._mount = transit_mount
        self._kek = kek_name
        self._lock = threading.Lock()
        self._logged_in = False
        # An explicit empty token stops hvac from reading VAULT_TOKEN or ~/.vault-token:
        # credentials come only from the login strategy.
        self._client = hvac.Client(
            url=self._addr, token="", verify=ca_file or True, timeout=timeout
        )

    @property
    def addr(self) -> str:
        """Base address of the key service."""
        return self._addr

    @property
    def kek_name(self) -> str:
        """Name of the Transit key used as KEK."""
        return self._kek

    def _transit(self, action: str, *, decrypting: bool = False) -> Any:
        return translated_errors(action, self._addr, self._login.secrets(), decrypting=decrypting)

    def _ready_client(self) -> Any:
        if not self._logged_in:
            self._login.login(self._client)
            self._logged_in = True
        return self._client

    def ensure_transit(self) -> None:
        """Enable the Transit mount and create the KEK if either is missing.

        The KEK is created non-exportable with plaintext backup disabled. An existing
        KEK that could be exported is refused rather than used.

        Raises:
            ConfigurationError: The existing KEK is exportable or of an unusable type.
            KeyServiceError: The token may not read or create the mount or key.
            KeyServiceUnavailable: The key service cannot be reached.
        """
        with self._lock:
            client = self._ready_client()
            info = self._read_kek(client)
            if info is None:
                with self._transit("list secrets engines"):
                    mounts = client.sys.list_mounted_secrets_engines()["data"]
                if f"{self._mount}/" not in mounts:
                    with self._transit(f"enable the Transit engine at {self._mount}/"):
                        client.sys.enable_secrets_engine(
                            backend_type="transit",
                            path=self._mount,
                            description="biovault key-encryption keys",
                        )
                with self._transit(f"create the KEK {self._kek!r}"):
                    client.secrets.transit.create_key(
                        name=self._kek,
                        key_type=KEK_TYPE,
                        exportable=False,
                        allow_plaintext_backup=False,
                        mount_point=self._mount,
                    )
                info = self._read_kek(client)
                if info is None:
                    raise ConfigurationError(f"KEK {self._kek!r} was created but cannot be read")
            self._check_kek(info)

    def _read_kek(self, client: Any) -> dict[str, Any] | None:
        with self._transit(f"read the KEK {self._kek!r}"):
            try:
                response = client.secrets.transit.read_key(name=self._kek, mount_point=self._mount)
            except hvac.exceptions.InvalidPath:
                return None
            data: dict[str, Any] = response["data"]
            return data

    def _check_kek(self, info: dict[str, Any]) -> None:
        if info.get("exportable") or info.get("allow_plaintext_backup"):
            raise ConfigurationError(
                f"KEK {self._kek!r} is exportable or allows plaintext backup; "
                "a KEK must never leave the key service"
            )
        if info.get("type") != KEK_TYPE:
            raise ConfigurationError(
                f"KEK {self._kek!r} has type {info.get('type')!r}, expected {KEK_TYPE}"
            )

    def generate_data_key(self) -> WrappedDataKey:
        """Ask Transit for a fresh 256-bit DEK and its wrapped form."""
        with self._lock, self._transit("generate a data key"):
            response = self._ready_client().secrets.transit.generate_data_key(
                name=self._kek, key_type="plaintext", bits=_DATA_KEY_BITS, mount_point=self._mount
            )
            data = response["data"]
            wrapped = str(data["ciphertext"])
            version = _wrapped_version(wrapped)
            key = DataKey._unsafe_from_material(
                base64.b64decode(data["plaintext"], validate=True), self._key_id(version)
            )
        return WrappedDataKey(key=key, wrapped=wrapped)

    def unwrap_data_key(self, wrapped: str) -> DataKey:
        """Recover a DEK from its wrapped form through Transit ``decrypt``.

        Raises:
            WrappedKeyRejected: Not a Transit ciphertext, tampered, or from another KEK.
            KeyServiceError: The token may not decrypt with the KEK.
            KeyServiceUnavailable: The key service cannot be reached.
        """
        version = _wrapped_version(wrapped)
        with self._lock, self._transit("unwrap a data key", decrypting=True):
            response = self._ready_client().secrets.transit.decrypt_data(
                name=self._kek, ciphertext=wrapped, mount_point=self._mount
            )
            return DataKey._unsafe_from_material(
                base64.b64decode(response["data"]["plaintext"], validate=True),
                self._key_id(version),
            )

    def kek_version(self) -> int:
        """Latest version of the KEK (the one new wraps use)."""
        with self._lock:
            info = self._read_kek(self._ready_client())
        if info is None:
            raise ConfigurationError(f"KEK {self._kek!r} does not exist; run ensure_transit()")
        with self._transit("read the KEK version"):
            return int(info["latest_version"])

    def rotate_kek(self) -> int:
        """Add a new KEK version for future wraps; old versions still unwrap."""
        with self._lock, self._transit(f"rotate the KEK {self._kek!r}"):
            self._ready_client().secrets.transit.rotate_key(name=self._kek, mount_point=self._mount)
        return self.kek_version()

    def rewrap_data_key(self, wrapped: str) -> str:
        """Re-encrypt a wrapped DEK under the latest KEK version inside Transit."""
        _wrapped_version(wrapped)
        with self._lock, self._transit("rewrap a data key", decrypting=True):
            response = self._ready_client().secrets.transit.rewrap_data(
                name=self._kek, ciphertext=wrapped, mount_point=self._mount
            )
            rewrapped = str(response["data"]["ciphertext"])
        _wrapped_version(rewrapped)
        return rewrapped

    def wrapped_key_version(self, wrapped: str) -> int:
        """KEK version named in a wrapped DEK's ``vault:vN:`` prefix (no network)."""
        return _wrapped_version(wrapped)

    def is_available(self) -> bool:
        """True if the server is initialised, unsealed and the active node; never raises."""
        try:
            with self._lock:
                response = self._client.sys.read_health_status(method="GET")
        except Exception:
            return False
        # hvac returns a dict only for HTTP 200; standby (429), sealed (503) and
        # uninitialised (501) come back as raw responses.
        if not isinstance(response, dict):
            return False
        return (
            response.get("initialized") is True
            and response.get("sealed") is False
            and response.get("standby") is False
        )

    def close(self) -> None:
        """Close pooled HTTP connections."""
        with self._lock:
            self._client.adapter.close()

    def _key_id(self, version: int) -> str:
        return f"{self._mount}/{self._kek}:v{version}"

    def __repr__(self) -> str:
        return f"HcVaultKeyService(addr={self._addr!r}, mount={self._mount!r}, kek={self._kek!r})"
