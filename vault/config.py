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
    transit_mount: str = "transit"
    kek_name: str = "biovault-kek"
    max_message_bytes: int = 64 * 1024 * 1024
    workers: int = 8
    # Processes for TenSEAL work (encryption, score decryption); 0 = one per core.
    he_workers: int = 0
