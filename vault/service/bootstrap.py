"""The one place where concrete parts are wired together at start-up.

Key service (external Vault, or the embedded development OpenBao) -> store ->
wrapped keys -> core. Everything opened here is closed here, in reverse order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from vault.audit.jsonl import JsonLinesAuditSink
from vault.config import ServeSettings
from vault.core.keyring import load_or_create_keyset, load_or_create_pseudonym_key
from vault.core.transform_seeds import VaultSeedSource
from vault.core.vault import VaultCore
from vault.errors import ConfigurationError
from vault.he.params import DEFAULT_PARAMS_ID, get_params
from vault.keys.hcvault.client import HcVaultKeyService
from vault.keys.hcvault.embedded import EmbeddedOpenBao
from vault.store.sqlite import SqliteTemplateStore

__all__ = ["open_vault"]

log = logging.getLogger(__name__)


def _vault_token(settings: ServeSettings) -> str:
    token = settings.vault_token or os.environ.get("VAULT_TOKEN")
    if not token:
        raise ConfigurationError(
            "an external Vault needs a token: set VAULT_TOKEN or --vault-token-file"
        )
    return token


def _prepare_data_dir(path: Path) -> Path:
    path = path.expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not os.access(path, os.W_OK):
        raise ConfigurationError(f"data directory {path} is not writable")
    return path


@contextmanager
def open_vault(settings: ServeSettings) -> Iterator[VaultCore]:
    """Start every component for ``settings`` and yield a ready core."""
    data_dir = _prepare_data_dir(settings.data_dir)
    with ExitStack() as stack:
        vault_addr = settings.vault_addr or os.environ.get("VAULT_ADDR")
        if vault_addr:
            addr, token = vault_addr, _vault_token(settings)
        else:
            embedded = EmbeddedOpenBao(data_dir)
            addr, token = embedded.start()
            stack.callback(embedded.stop)
        keys = HcVaultKeyService(
            addr=addr,
            token=token,
            transit_mount=settings.transit_mount,
            kek_name=settings.kek_name,
            ca_file=settings.vault_ca_file,
        )
        stack.callback(keys.close)
        keys.ensure_transit()
        store = SqliteTemplateStore(data_dir / "vault.db")
        stack.callback(store.close)
        audit = JsonLinesAuditSink(data_dir / "audit.jsonl")
        stack.callback(audit.close)
        keyset = load_or_create_keyset(store, keys, get_params(DEFAULT_PARAMS_ID))
        # Fork TenSEAL workers now: they inherit the key set, and no gRPC thread exists yet.
        keyset.start_workers(settings.he_workers or os.cpu_count() or 1)
        stack.callback(keyset.stop_workers)
        pseudonym_key = load_or_create_pseudonym_key(store, keys)
        core = VaultCore(
            store=store,
            keyset=keyset,
            audit=audit,
            pseudonym_key=pseudonym_key,
            transform_seeds=VaultSeedSource(store, keys),
            key_service_available=keys.is_available,
        )
        log.info("vault ready: data in %s, key service at %s", data_dir, addr)
        yield core
