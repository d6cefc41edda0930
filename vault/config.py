"""Settings of a running vault, resolved once at start-up from flags and environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from vault.errors import ConfigurationError

if TYPE_CHECKING:
    from vault.store.factory import StoreLocation

__all__ = [
    "DEFAULT_LISTEN",
    "DEFAULT_TARGET",
    "ServeSettings",
    "settings_from_environment",
    "store_url_from_environment",
]

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_TARGET = "127.0.0.1:50051"


@dataclass(frozen=True)
class ServeSettings:
    """Everything `biovault serve` needs.

    With ``hcvault_addr`` unset the service starts and manages a persistent embedded
    OpenBao under ``data_dir / "openbao"`` (development only).
    """

    data_dir: Path
    listen: str = DEFAULT_LISTEN
    hcvault_addr: str | None = None
    # Never in a repr: settings get logged and printed in tracebacks.
    hcvault_token: str | None = field(default=None, repr=False)
    hcvault_ca_file: str | None = None
    # AppRole login instead of a token: role id + a file holding the secret id.
    hcvault_role_id: str | None = None
    hcvault_secret_id_file: Path | None = None
    hcvault_approle_mount: str = "approle"
    # Seconds per key service request, and retries of idempotent calls.
    hcvault_timeout: float = 10.0
    hcvault_retries: int = 3
    transit_mount: str = "transit"
    kek_name: str = "biovault-kek"
    max_message_bytes: int = 64 * 1024 * 1024
    workers: int = 8
    # Processes for TenSEAL work (encryption, score decryption); 0 = one per core.
    he_workers: int = 0
    # Seconds between two scheduled retention runs (erasure of expired templates);
    # 0 turns the schedule off (`biovault retention enforce` still works).
    retention_interval: float = 3600.0
    # Mutual TLS (all three or none): server certificate and key, and the CA that
    # signs client certificates. None: plaintext, allowed on loopback only.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    # JSON map of certificate identities to roles (see vault/service/roles.py).
    role_map: Path | None = None
    # Per-client token bucket of Verify/Identify probes (an Identify pays one token
    # per probe row, vault/service/ratelimit.py); rate 0 turns it off.
    rate_limit: float = 100.0
    rate_burst: int = 1000
    # HOST:PORT of the Prometheus exporter (plain HTTP); None: no exporter.
    metrics_listen: str | None = None
    # postgresql://USER@HOST:PORT/DB: templates, keys and the audit log live there
    # instead of SQLite under data_dir. Never holds a password (see store_password_file).
    store_url: str | None = None
    store_password_file: Path | None = None

    @property
    def store(self) -> StoreLocation:
        """Where the template store (and the audit log) live."""
        from vault.store.factory import StoreLocation

        return StoreLocation(self.data_dir, self.store_url, self.store_password_file)
    # The file the token came from: shards (vault.cluster) log in with it themselves.
    hcvault_token_file: Path | None = None
    # HOST:PORT of a Ray cluster's GCS: galleries are spread over ``shards`` actors there.
    ray_address: str | None = None
    shards: int = 1


# The standard variables of the Vault CLI, so an operator's existing set-up works.
_ENVIRONMENT: Final = {
    "hcvault_addr": "VAULT_ADDR",
    "hcvault_token": "VAULT_TOKEN",
    "hcvault_ca_file": "VAULT_CACERT",
    "hcvault_role_id": "VAULT_ROLE_ID",
    "hcvault_secret_id_file": "VAULT_SECRET_ID_FILE",
    "hcvault_approle_mount": "VAULT_APPROLE_MOUNT",
    "store_url": "BIOVAULT_STORE_URL",
}


def settings_from_environment(
    data_dir: Path,
    *,
    token_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    **given: Any,
) -> ServeSettings:
    """Settings from explicit values (flags) over the ``VAULT_*`` environment.

    This is the only place the process environment is read for the key service:
    ``serve`` and ``fsck`` both come through here, and start-up wiring gets finished
    :class:`ServeSettings`. ``given`` values that are None count as not given; a
    ``token_file`` overrides ``VAULT_TOKEN``.

    Raises:
        ConfigurationError: The token file cannot be read or is empty, or only
            half of an AppRole login is configured.
    """
    env = os.environ if environ is None else environ
    values = {name: value for name, value in given.items() if value is not None}
    for name, variable in _ENVIRONMENT.items():
        if name not in values and env.get(variable):
            values[name] = env[variable]
    if token_file:
        values["hcvault_token"] = _read_token(Path(token_file))
        values["hcvault_token_file"] = Path(token_file).expanduser().resolve()
    if ("hcvault_role_id" in values) != ("hcvault_secret_id_file" in values):
        raise ConfigurationError(
            "AppRole login needs both --vault-role-id and --vault-secret-id-file "
            "(or VAULT_ROLE_ID and VAULT_SECRET_ID_FILE)"
        )
    if "hcvault_secret_id_file" in values:
        values["hcvault_secret_id_file"] = Path(values["hcvault_secret_id_file"]).expanduser()
    if "store_password_file" in values:
        values["store_password_file"] = Path(values["store_password_file"]).expanduser()
    return ServeSettings(data_dir=data_dir, **values)


def store_url_from_environment(
    flag: str | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """``--store-url`` if given, else ``BIOVAULT_STORE_URL`` (tools that take no
    other settings, such as ``bench``)."""
    env = os.environ if environ is None else environ
    return flag or env.get(_ENVIRONMENT["store_url"]) or None


def _read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigurationError(f"cannot read {path}: {error.strerror or error}") from None
    if not token:
        raise ConfigurationError(f"{path} is empty; expected a Vault token")
    return token
