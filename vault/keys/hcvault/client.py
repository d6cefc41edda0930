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
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import hvac
import hvac.exceptions

from vault.errors import (
    ConfigurationError,
    KeyServiceError,
    KeyServiceUnavailable,
    WrappedKeyRejected,
)
from vault.keys.base import KekInfo, KeyService, WrappedDataKey
from vault.keys.datakey import DataKey
from vault.keys.hcvault._retry import RetryPolicy
from vault.keys.hcvault._session import HcvaultSession
from vault.keys.hcvault.login import LoginStrategy, TokenLease, TokenLogin

__all__ = ["KEK_TYPE", "HcVaultKeyService"]

KEK_TYPE = "aes256-gcm96"
_DATA_KEY_BITS = 256
_WRAPPED_RE = re.compile(r"vault:v([1-9][0-9]{0,9}):[A-Za-z0-9+/]+={0,2}")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_REWRAP_BATCH = 128
_HEALTH_TIMEOUT = 2.0
# For how long after a failed health check other calls fail without trying.
_FAIL_FAST_SECONDS = 3.0
log = logging.getLogger("vault.keys.hcvault")
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

    One instance may be shared by the service's threads: calls are serialised
    (Transit traffic is rare - key loading, collection creation, rotation), while
    health checks use a separate token-less connection so that they never queue
    behind a slow call. Idempotent calls are retried on transient failures; the
    token is renewed by :meth:`start_token_renewal`'s background thread.
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
        retry: RetryPolicy | None = None,
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
            retry: Retries of idempotent calls on transient failures.

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
        self._mount = transit_mount
        self._kek = kek_name
        self._session = HcvaultSession(
            self._addr,
            login if login is not None else TokenLogin(token or ""),
            ca_file=ca_file,
            timeout=timeout,
            retry=retry or RetryPolicy(),
        )
        self._health_lock = threading.Lock()
        self._down_since: float | None = None  # when the last health check found it down
        self._health_client = hvac.Client(
            url=self._addr, token="", verify=ca_file or True, timeout=min(timeout, _HEALTH_TIMEOUT)
        )

    @property
    def addr(self) -> str:
        """Base address of the key service."""
        return self._addr

    @property
    def kek_name(self) -> str:
        """Name of the Transit key used as KEK."""
        return self._kek

    @property
    def auth_method(self) -> str:
        """How the service authenticates (``"token"`` or ``"approle"``)."""
        return self._session.login_strategy.method

    def token_lease(self) -> TokenLease | None:
        """What is known about the current token's lifetime (no secret)."""
        return self._session.lease()

    def start_token_renewal(self) -> None:
        """Keep the token alive from a daemon thread: renew at half TTL, log in again
        when renewal is no longer possible (AppRole). Idempotent."""
        self._session.start_renewal()

    def _call(
        self, action: str, fn: Any, *, idempotent: bool = True, decrypting: bool = False
    ) -> Any:
        # While the health thread has just seen the server down or sealed, fail at once
        # instead of tying up a request thread in connection attempts and retries.
        down_since = self._down_since
        if down_since is not None and time.monotonic() - down_since < _FAIL_FAST_SECONDS:
            raise KeyServiceUnavailable(
                f"key service at {self._addr} could not {action}: it was down or sealed at "
                "the last health check - the key service is down, sealed or unreachable; "
                "retry once it is back"
            )
        return self._session.call(action, fn, idempotent=idempotent, decrypting=decrypting)

    def ensure_transit(self) -> None:
        """Enable the Transit mount and create the KEK if either is missing.

        The KEK is created non-exportable with plaintext backup disabled. An existing
        KEK that could be exported is refused rather than used. With a KEK created
        beforehand by an operator, only ``read`` on the key is needed.

        Raises:
            ConfigurationError: The existing KEK is exportable or of an unusable type.
            KeyServiceError: The token may not read or create the mount or key.
            KeyServiceUnavailable: The key service cannot be reached.
        """
        info = self._read_kek()
        if info is None:
            mounts = self._call(
                "list secrets engines", lambda c: c.sys.list_mounted_secrets_engines()["data"]
            )
            if f"{self._mount}/" not in mounts:
                self._call(
                    f"enable the Transit engine at {self._mount}/",
                    lambda c: c.sys.enable_secrets_engine(
                        backend_type="transit",
                        path=self._mount,
                        description="biovault key-encryption keys",
                    ),
                    idempotent=False,
                )
            self._call(
                f"create the KEK {self._kek!r}",
                lambda c: c.secrets.transit.create_key(
                    name=self._kek,
                    key_type=KEK_TYPE,
                    exportable=False,
                    allow_plaintext_backup=False,
                    mount_point=self._mount,
                ),
            )
            info = self._read_kek()
            if info is None:
                raise ConfigurationError(f"KEK {self._kek!r} was created but cannot be read")
        self._check_kek(info)

    def _read_kek(self) -> dict[str, Any] | None:
        def read(client: Any) -> dict[str, Any] | None:
            try:
                response = client.secrets.transit.read_key(name=self._kek, mount_point=self._mount)
            except hvac.exceptions.InvalidPath:
                return None
            data: dict[str, Any] = response["data"]
            return data

        result: dict[str, Any] | None = self._call(f"read the KEK {self._kek!r}", read)
        return result

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

        def generate(client: Any) -> WrappedDataKey:
            response = client.secrets.transit.generate_data_key(
                name=self._kek, key_type="plaintext", bits=_DATA_KEY_BITS, mount_point=self._mount
            )
            data = response["data"]
            wrapped = str(data["ciphertext"])
            version = _wrapped_version(wrapped)
            key = DataKey._unsafe_from_material(
                base64.b64decode(data["plaintext"], validate=True), self._key_id(version)
            )
            return WrappedDataKey(key=key, wrapped=wrapped)

        result: WrappedDataKey = self._call("generate a data key", generate)
        return result

    def unwrap_data_key(self, wrapped: str) -> DataKey:
        """Recover a DEK from its wrapped form through Transit ``decrypt``.

        Raises:
            WrappedKeyRejected: Not a Transit ciphertext, tampered, or from another KEK.
            KeyServiceError: The token may not decrypt with the KEK.
            KeyServiceUnavailable: The key service cannot be reached.
        """
        version = _wrapped_version(wrapped)

        def unwrap(client: Any) -> DataKey:
            response = client.secrets.transit.decrypt_data(
                name=self._kek, ciphertext=wrapped, mount_point=self._mount
            )
            return DataKey._unsafe_from_material(
                base64.b64decode(response["data"]["plaintext"], validate=True),
                self._key_id(version),
            )

        result: DataKey = self._call("unwrap a data key", unwrap, decrypting=True)
        return result

    def kek_info(self) -> KekInfo:
        """Latest, minimum-decryption and minimum-available versions of the KEK."""
        info = self._read_kek()
        if info is None:
            raise ConfigurationError(f"KEK {self._kek!r} does not exist; run ensure_transit()")
        try:
            return KekInfo(
                name=self._kek,
                latest_version=int(info["latest_version"]),
                min_decryption_version=int(info.get("min_decryption_version") or 1),
                min_available_version=int(info.get("min_available_version") or 0),
            )
        except (KeyError, TypeError, ValueError):
            raise KeyServiceError(
                f"key service at {self._addr} described the KEK in an unexpected form"
            ) from None

    def kek_version(self) -> int:
        """Latest version of the KEK (the one new wraps use)."""
        return self.kek_info().latest_version

    def rotate_kek(self) -> int:
        """Add a new KEK version for future wraps; old versions still unwrap.

        Never retried: a retry after a lost answer would add a second version.
        """
        self._call(
            f"rotate the KEK {self._kek!r}",
            lambda c: c.secrets.transit.rotate_key(name=self._kek, mount_point=self._mount),
            idempotent=False,
        )
        return self.kek_version()

    def rewrap_data_key(self, wrapped: str) -> str:
        """Re-encrypt a wrapped DEK under the latest KEK version inside Transit."""
        _wrapped_version(wrapped)

        def rewrap(client: Any) -> str:
            response = client.secrets.transit.rewrap_data(
                name=self._kek, ciphertext=wrapped, mount_point=self._mount
            )
            return str(response["data"]["ciphertext"])

        rewrapped: str = self._call("rewrap a data key", rewrap, decrypting=True)
        _wrapped_version(rewrapped)
        return rewrapped

    def rewrap_data_keys(self, wrapped: Sequence[str]) -> list[str | None]:
        """Rewrap many DEKs with Transit's batch ``rewrap``; None where one is rejected."""
        results: list[str | None] = []
        for start in range(0, len(wrapped), _REWRAP_BATCH):
            results.extend(self._rewrap_batch(list(wrapped[start : start + _REWRAP_BATCH])))
        return results

    def _rewrap_batch(self, batch: list[str]) -> list[str | None]:
        for item in batch:
            _wrapped_version(item)

        def rewrap(client: Any) -> list[Any]:
            response = client.secrets.transit.rewrap_data(
                name=self._kek,
                ciphertext=None,
                batch_input=[{"ciphertext": item} for item in batch],
                mount_point=self._mount,
            )
            answers: list[Any] = response["data"]["batch_results"]
            return answers

        try:
            answers = self._call("rewrap data keys", rewrap, decrypting=True)
        except WrappedKeyRejected:
            # Transit answers 400 when *every* item fails; sort them out one by one.
            return super().rewrap_data_keys(batch)
        if len(answers) != len(batch):
            raise KeyServiceError(f"key service at {self._addr} answered a batch rewrap partly")
        results: list[str | None] = []
        for answer in answers:
            ciphertext = answer.get("ciphertext") if isinstance(answer, dict) else None
            if not ciphertext or answer.get("error"):
                results.append(None)
                continue
            _wrapped_version(str(ciphertext))
            results.append(str(ciphertext))
        return results

    def retire_kek_versions(self, below: int) -> None:
        """Raise ``min_decryption_version`` (and ``min_encryption_version``) to ``below``.

        Sent as a raw request with only those two fields: hvac's helper rejects
        the combination Transit requires (encryption minimum >= decryption minimum),
        and a least-privilege policy may allow nothing else on the config path.
        """
        if below < 1:
            raise ConfigurationError("KEK versions start at 1")
        path = f"/v1/{self._mount}/keys/{self._kek}/config"
        body = {"min_decryption_version": below, "min_encryption_version": below}
        self._call(
            f"raise the minimum decryption version of the KEK {self._kek!r} to {below}",
            lambda c: c.adapter.post(path, json=body),
        )

    def trim_kek_versions(self, below: int) -> None:
        """Delete KEK versions older than ``below`` (irreversible; Transit ``trim``)."""
        self._call(
            f"trim the KEK {self._kek!r} below version {below}",
            lambda c: c.secrets.transit.trim_key(
                name=self._kek, min_version=below, mount_point=self._mount
            ),
        )

    def wrapped_key_version(self, wrapped: str) -> int:
        """KEK version named in a wrapped DEK's ``vault:vN:`` prefix (no network)."""
        return _wrapped_version(wrapped)

    def is_available(self) -> bool:
        """True if the server is initialised, unsealed, the active node, and our token
        is (still) usable; never raises and never waits behind another call.

        A server found down makes other calls fail fast for a few seconds (until the
        next check), so request threads do not pile up behind an outage.
        """
        server_up = self._server_healthy()
        self._down_since = None if server_up else time.monotonic()
        return server_up and self._session.token_usable

    def _server_healthy(self) -> bool:
        try:
            with self._health_lock:
                response = self._health_client.sys.read_health_status(method="GET")
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
        """Stop token renewal and close pooled HTTP connections."""
        self._session.close()
        with self._health_lock:
            self._health_client.adapter.close()

    def _key_id(self, version: int) -> str:
        return f"{self._mount}/{self._kek}:v{version}"

    def __repr__(self) -> str:
        return f"HcVaultKeyService(addr={self._addr!r}, mount={self._mount!r}, kek={self._kek!r})"
