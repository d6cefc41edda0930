"""Settings of a running vault, resolved once at start-up from flags and environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_LISTEN", "DEFAULT_TARGET", "ServeSettings"]

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_TARGET = "127.0.0.1:50051"


@dataclass(frozen=True)
class ServeSettings:
    """Everything `biovault serve` needs.

    With ``vault_addr`` unset the service starts and manages a persistent embedded
    OpenBao under ``data_dir / "openbao"`` (development only).
    """

    data_dir: Path
    listen: str = DEFAULT_LISTEN
    vault_addr: str | None = None
    vault_token: str | None = None
    vault_ca_file: str | None = None
    # AppRole login instead of a token: role id + a file holding the secret id.
    vault_role_id: str | None = None
    vault_secret_id_file: Path | None = None
    vault_approle_mount: str = "approle"
    # Seconds per key service request, and retries of idempotent calls.
    vault_timeout: float = 10.0
    vault_retries: int = 3
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
