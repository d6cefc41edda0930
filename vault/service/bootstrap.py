"""The one place where concrete parts are wired together at start-up.

Key service (external Vault, or the embedded development OpenBao) -> store ->
wrapped keys -> core. Everything opened here is closed here, in reverse order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault.audit.log import MerkleAuditLog
from vault.config import ServeSettings
from vault.core.compliance import ComplianceApi, ComplianceOps
from vault.core.fsck import FsckReport, check_audit_log, check_sealed_blocks, check_store
from vault.core.guard import ComplianceGuard
from vault.core.keyops import KeyOps
from vault.core.retention_schedule import RetentionScheduler
from vault.core.transform_seeds import CatalogSeedSource
from vault.core.vault import VaultCore
from vault.errors import ConfigurationError
from vault.he.params import DEFAULT_PARAMS_ID, get_params
from vault.keys.auditkey import load_or_create_audit_signer
from vault.keys.catalog import KeyCatalog
from vault.keys.datakeys import CollectionDataKeys
from vault.keys.hcvault import RetryPolicy
from vault.keys.hcvault.client import HcVaultKeyService
from vault.keys.hcvault.embedded import EmbeddedOpenBao
from vault.keys.hcvault.login import AppRoleLogin, LoginStrategy, TokenLogin
from vault.keys.keyring import load_or_create_keyset, load_or_create_pseudonym_key
from vault.service.shard_source import KeyServiceSpec, ShardSourceSpec, cluster_namespace
from vault.store.factory import StoreLocation, open_log_rows, open_store

__all__ = ["VaultServices", "open_vault", "open_vault_services", "run_fsck"]

log = logging.getLogger(__name__)


def _hcvault_login(settings: ServeSettings) -> LoginStrategy:
    if settings.hcvault_role_id and settings.hcvault_secret_id_file:
        login = AppRoleLogin(
            settings.hcvault_role_id,
            secret_id_file=settings.hcvault_secret_id_file,
            mount=settings.hcvault_approle_mount,
        )
        login.check()
        return login
    token = settings.hcvault_token
    if not token:
        raise ConfigurationError(
            "an external Vault needs credentials: --vault-role-id with "
            "--vault-secret-id-file (AppRole), or VAULT_TOKEN / --vault-token-file"
        )
    return TokenLogin(token)


@dataclass(frozen=True)
class VaultServices:
    """What the transport serves: the core use cases and the key officers' operations."""

    core: VaultCore
    key_admin: KeyOps
    compliance: ComplianceApi | None = None
    #: Registers a callback run whenever readiness changes without the key service
    #: being asked (the encryption worker pool breaking or healing), so health can
    #: publish it at once instead of at its next periodic refresh.
    watch_readiness: Callable[[Callable[[], None]], None] | None = None
    #: Each gallery shard's status (vault.cluster.ShardStatus), or None without a cluster.
    cluster_status: Callable[[], list[Any]] | None = None


def _prepare_data_dir(path: Path) -> Path:
    path = path.expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not os.access(path, os.W_OK):
        raise ConfigurationError(f"data directory {path} is not writable")
    return path


@contextmanager
def open_vault(settings: ServeSettings) -> Iterator[VaultCore]:
    """Start every component for ``settings`` and yield a ready core."""
    with open_vault_services(settings) as services:
        yield services.core


def _open_key_service(
    settings: ServeSettings,
    data_dir: Path,
    stack: ExitStack,
    embedded_started: list[EmbeddedOpenBao] | None = None,
) -> HcVaultKeyService:
    """The configured Vault, or the embedded OpenBao started for ``data_dir``;
    ``stack`` closes (and stops) what this opened; an embedded server is also
    appended to ``embedded_started``."""
    # The environment was read into settings by vault.config, never here.
    if settings.hcvault_addr:
        addr, login = settings.hcvault_addr, _hcvault_login(settings)
    else:
        embedded = EmbeddedOpenBao(data_dir)
        addr, token = embedded.start()
        login = TokenLogin(token)
        stack.callback(embedded.stop)
        if embedded_started is not None:
            embedded_started.append(embedded)
    keys = HcVaultKeyService(
        addr=addr,
        login=login,
        transit_mount=settings.transit_mount,
        kek_name=settings.kek_name,
        ca_file=settings.hcvault_ca_file,
        timeout=settings.hcvault_timeout,
        retry=RetryPolicy(retries=settings.hcvault_retries),
    )
    stack.callback(keys.close)
    return keys


@contextmanager
def open_vault_services(settings: ServeSettings) -> Iterator[VaultServices]:
    """Start every component for ``settings`` and yield the core and key operations."""
    data_dir = _prepare_data_dir(settings.data_dir)
    with ExitStack() as stack:
        embedded: list[EmbeddedOpenBao] = []
        keys = _open_key_service(settings, data_dir, stack, embedded)
        keys.ensure_transit()
        location = settings.store
        # A serving process is the store's single writer (PostgreSQL: advisory lock),
        # except sharded on PostgreSQL: there several front-ends share the store and the
        # audit log, writing under per-collection and log locks (vault/core/follow.py).
        shared = bool(settings.ray_address) and location.url is not None
        store = open_store(location, writer=not shared)
        stack.callback(store.close)
        # The audit key is unwrapped through Vault; a key that existed has signed
        # checkpoints, so its log must exist too (never silently start a new one).
        signer, signed_before = load_or_create_audit_signer(store, keys)
        rows = open_log_rows(store, location)
        audit = MerkleAuditLog(rows, signer, create=not signed_before)
        stack.callback(audit.close)
        params = get_params(DEFAULT_PARAMS_ID)
        keyset = load_or_create_keyset(store, keys, params)
        # Fork TenSEAL workers now: they inherit the key set, and no gRPC thread exists yet.
        keyset.start_workers(settings.he_workers or os.cpu_count() or 1)
        stack.callback(keyset.stop_workers)
        pseudonym_key = load_or_create_pseudonym_key(store, keys)
        # After the fork above: renewal is a thread, and threads do not survive fork().
        keys.start_token_renewal()
        for server in embedded:  # a thread too: restarts a killed server and unseals it
            server.supervise()
        # Collection DEKs are unwrapped here, once; blocks that fail to open stop start-up.
        data_keys = CollectionDataKeys(store, keys)
        # After the fork above too: joining Ray starts threads.
        cluster = _open_cluster(settings, data_dir, keys, params.params_id, embedded, stack)
        core = VaultCore(
            store=store,
            keyset=keyset,
            audit=audit,
            compliance=ComplianceGuard(audit),
            pseudonym_key=pseudonym_key,
            data_keys=data_keys,
            transform_seeds=CatalogSeedSource(store, keys),
            # Serving needs the key service and a working encryption pool: while
            # the pool replaces a dead worker, enrolment and erasure fail fast.
            key_service_available=lambda: keyset.workers_ready() and keys.is_available(),
            gallery_engines=None if cluster is None else cluster.engines,
            # Sharded on PostgreSQL: other front-ends may write the store (follow.py).
            follow_store=shared,
        )
        # Reconciles the log with the store before anything is served.
        compliance = ComplianceOps(core)
        # Only now that every secret has opened: a refused start writes nothing.
        KeyCatalog(store, keys).migrate()
        key_admin = KeyOps(
            store=store, keys=keys, data_keys=data_keys, audit=audit, keyset_params=params
        )
        key_admin.start_maintenance()
        stack.callback(key_admin.close)
        compliance.record_service_start(audit_key="loaded" if signed_before else "created")
        # One sweep at a time across front-ends (the store's lock; SQLite: always this one).
        retention = RetentionScheduler(
            compliance, settings.retention_interval, exclusive=lambda: store.run_alone("retention")
        )
        retention.start()
        stack.callback(retention.stop)
        log.info(
            "vault ready: data in %s, store %s, key service at %s",
            data_dir, location.describe(), keys.addr,
        )  # fmt: skip
        workers = keyset.workers
        yield VaultServices(
            core=core,
            key_admin=key_admin,
            compliance=compliance,
            watch_readiness=None if workers is None else workers.watch,
            cluster_status=None if cluster is None else cluster.status,
        )


def _open_cluster(
    settings: ServeSettings,
    data_dir: Path,
    keys: HcVaultKeyService,
    params_id: int,
    embedded: list[EmbeddedOpenBao],
    stack: ExitStack,
) -> Any:
    """The Ray shard cluster of ``--ray-address`` (None without one).

    Shards are told where the store and the key service are and which *file* holds
    the credential; they log in and unwrap the key set themselves.
    """
    if not settings.ray_address:
        if settings.shards != 1:
            raise ConfigurationError("--shards needs --ray-address")
        return None
    try:
        from vault.cluster import ShardCluster
    except ImportError as e:
        raise ConfigurationError(
            "--ray-address needs the cluster extra: pip install 'biovault[cluster]'"
        ) from e
    if embedded:
        credential = {"dev_init_file": str(embedded[0].home / "init.json")}
    elif settings.hcvault_role_id and settings.hcvault_secret_id_file:
        credential = {
            "role_id": settings.hcvault_role_id,
            "secret_id_file": str(settings.hcvault_secret_id_file),
            "approle_mount": settings.hcvault_approle_mount,
        }
    elif settings.hcvault_token_file:
        credential = {"token_file": str(settings.hcvault_token_file)}
    else:
        raise ConfigurationError(
            "--ray-address needs the key service credential in a file the shards can "
            "read: --vault-token-file, or AppRole (--vault-role-id, --vault-secret-id-file)"
        )
    spec = ShardSourceSpec(
        # Absolute paths: a shard's worker does not run in the front-end's directory.
        store=StoreLocation(
            data_dir,
            settings.store_url,
            None
            if settings.store_password_file is None
            else settings.store_password_file.expanduser().resolve(),
        ),
        key_service=KeyServiceSpec(
            addr=keys.addr,
            ca_file=settings.hcvault_ca_file,
            transit_mount=settings.transit_mount,
            kek_name=settings.kek_name,
            timeout=settings.hcvault_timeout,
            **credential,
        ),
        params_id=params_id,
    )
    # One namespace per store: two vaults on one Ray cluster never share shards.
    namespace = cluster_namespace(spec.store)
    cluster = ShardCluster(settings.ray_address, settings.shards, spec, namespace=namespace)
    stack.callback(cluster.close)
    return cluster


def run_fsck(settings: ServeSettings, *, with_keys: bool = True) -> FsckReport:
    """Check a stopped vault's data directory; write nothing (see :mod:`vault.core.fsck`).

    Args:
        settings: The data directory and how to reach the key service (the
            embedded OpenBao under the data directory when no Vault is named).
        with_keys: Also open every sealed block and verify the audit log, which
            needs the key service; False checks the structure only.

    Raises:
        ConfigurationError: The directory holds no vault, or the key service
            cannot be started (e.g. a running service holds the embedded one).
    """
    data_dir = settings.data_dir.expanduser().resolve()
    location = settings.store
    if location.url is None and not (data_dir / "vault.db").is_file():
        raise ConfigurationError(f"{data_dir} holds no vault (no vault.db)")
    report = FsckReport()
    with ExitStack() as stack:
        store = open_store(location, read_only=True)
        stack.callback(store.close)
        sqlite_dir = data_dir if location.url is None else None
        check_store(sqlite_dir, store, report)
        if not with_keys:
            return report
        keys = _open_key_service(settings, data_dir, stack)
        check_sealed_blocks(store, keys, report)
        check_audit_log(open_log_rows(store, location), store, keys, report)
    return report
