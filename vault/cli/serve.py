"""``biovault serve``: run the gRPC service until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vault.cli.common import (
    CommandError,
    Commands,
    add_store_flags,
    add_vault_flags,
    positive_int,
)
from vault.cli.logsetup import LOG_FORMATS, configure_logging
from vault.config import DEFAULT_LISTEN, ServeSettings, settings_from_environment
from vault.transport import is_loopback_host, split_host_port

__all__ = ["register", "settings_from_args"]

_DEFAULTS = ServeSettings(data_dir=Path("."))


def register(commands: Commands) -> None:
    """Add the ``serve`` command."""
    parser = commands.add_parser(
        "serve",
        help="run the gRPC service",
        description=(
            "Run the vault service until SIGTERM/SIGINT. Without --vault-addr and "
            "VAULT_ADDR, a persistent embedded OpenBao is started under --data-dir: "
            "development only, as its unseal key is kept there; off loopback it needs "
            "--dev-embedded-key-server-unsafe."
        ),
    )
    parser.add_argument(
        "--data-dir",
        required=True,
        type=Path,
        metavar="DIR",
        help="state directory: SQLite store, audit log and, in development, the embedded OpenBao",
    )
    parser.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"address to serve on; plaintext only on loopback (default {DEFAULT_LISTEN})",
    )
    tls = parser.add_argument_group(
        "mutual TLS",
        "all three turn TLS on; without them only loopback addresses are served, and "
        "every caller acts as the local admin (development mode)",
    )
    tls.add_argument("--tls-cert", type=Path, metavar="FILE", help="server certificate (PEM)")
    tls.add_argument("--tls-key", type=Path, metavar="FILE", help="server private key (PEM)")
    tls.add_argument(
        "--client-ca",
        type=Path,
        metavar="FILE",
        help="CA bundle that client certificates must chain to (PEM)",
    )
    tls.add_argument(
        "--role-map",
        type=Path,
        metavar="FILE",
        help="JSON mapping certificate identities to roles (default rule: OU or CN "
        "'role:<name>'; see docs/security.md)",
    )
    parser.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help="serve Prometheus metrics over plain HTTP here (off by default; labels hold "
        "no subject ids or scores)",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=_DEFAULTS.rate_limit,
        metavar="PER_SECOND",
        help="Verify/Identify probes per second per client (an Identify costs one per "
        "probe row); 0 = unlimited "
        f"(default {_DEFAULTS.rate_limit:g})",
    )
    parser.add_argument(
        "--rate-burst",
        type=positive_int,
        default=_DEFAULTS.rate_burst,
        metavar="PROBES",
        help=f"probes a client may send at once before --rate-limit applies "
        f"(default {_DEFAULTS.rate_burst})",
    )
    add_vault_flags(parser)
    add_store_flags(parser)
    cluster = parser.add_argument_group(
        "scale-out (needs biovault[cluster])",
        "spread every encrypted gallery over shard actors on a running Ray cluster; "
        "shards log in to the key service themselves, so the token must come from "
        "--vault-token-file or AppRole (see docs/cluster.md)",
    )
    cluster.add_argument(
        "--ray-address",
        metavar="HOST:PORT",
        help="GCS address of the Ray cluster (its `ray start --head --port`)",
    )
    cluster.add_argument(
        "--shards",
        type=positive_int,
        default=_DEFAULTS.shards,
        metavar="N",
        help="shard actors per vault (default %(default)s; only with --ray-address)",
    )
    parser.add_argument(
        "--vault-role-id",
        metavar="ID",
        help="log in with AppRole using this role id (env VAULT_ROLE_ID)",
    )
    parser.add_argument(
        "--vault-secret-id-file",
        metavar="FILE",
        help="file holding the AppRole secret id, re-read at every login "
        "(env VAULT_SECRET_ID_FILE)",
    )
    parser.add_argument(
        "--vault-approle-mount",
        metavar="PATH",
        help="mount path of the AppRole auth method (env VAULT_APPROLE_MOUNT; "
        f"default {_DEFAULTS.hcvault_approle_mount})",
    )
    parser.add_argument(
        "--vault-timeout",
        type=float,
        default=_DEFAULTS.hcvault_timeout,
        metavar="SECONDS",
        help="timeout of each key service request (default %(default)g)",
    )
    parser.add_argument(
        "--transit-mount",
        default=_DEFAULTS.transit_mount,
        help="Transit engine mount (default %(default)s)",
    )
    parser.add_argument(
        "--kek-name",
        default=_DEFAULTS.kek_name,
        help="Transit key wrapping the data keys (default %(default)s)",
    )
    parser.add_argument(
        "--max-message-bytes",
        type=positive_int,
        default=_DEFAULTS.max_message_bytes,
        metavar="BYTES",
        help="largest gRPC message sent or received (default %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=_DEFAULTS.workers,
        help="RPC threads (default %(default)s)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="drain time on shutdown (default %(default)g)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="log verbosity (default %(default)s)",
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=LOG_FORMATS,
        help="text for people, json for log shippers, one object per line (default %(default)s)",
    )
    parser.add_argument(
        "--retention-interval",
        type=float,
        default=_DEFAULTS.retention_interval,
        metavar="SECONDS",
        help="seconds between scheduled erasures of expired templates; 0 = off "
        f"(default {_DEFAULTS.retention_interval:g})",
    )
    parser.add_argument(
        "--dev-embedded-key-server-unsafe",
        action="store_true",
        help="development only: allow the embedded OpenBao (its unseal key kept in "
        "--data-dir) on a non-loopback --listen; whoever holds the data directory can "
        "then decrypt every template",
    )
    parser.set_defaults(handler=_serve)


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    """Resolve flags and the VAULT_* environment into :class:`ServeSettings`.

    Raises:
        CommandError: A flag is out of range.
        ConfigurationError: The token file cannot be read or is empty, or AppRole
            is half configured (:func:`vault.config.settings_from_environment`).
    """
    if not args.vault_timeout > 0:
        raise CommandError("--vault-timeout must be positive")
    if args.rate_limit < 0:
        raise CommandError("--rate-limit must be >= 0")
    return settings_from_environment(
        args.data_dir.expanduser().resolve(),
        token_file=args.vault_token_file,
        listen=args.listen,
        hcvault_addr=args.vault_addr or None,
        hcvault_ca_file=args.vault_ca_file or None,
        hcvault_role_id=args.vault_role_id or None,
        hcvault_secret_id_file=args.vault_secret_id_file or None,
        hcvault_approle_mount=args.vault_approle_mount or None,
        hcvault_timeout=args.vault_timeout,
        transit_mount=args.transit_mount,
        kek_name=args.kek_name,
        max_message_bytes=args.max_message_bytes,
        workers=args.workers,
        retention_interval=args.retention_interval,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        client_ca=args.client_ca,
        role_map=args.role_map,
        rate_limit=args.rate_limit,
        rate_burst=args.rate_burst,
        metrics_listen=args.metrics_listen,
        store_url=args.store_url or None,
        store_password_file=args.store_password_file,
        ray_address=args.ray_address or None,
        shards=args.shards,
    )


def _require_key_server(args: argparse.Namespace, settings: ServeSettings) -> None:
    """Refuse the embedded OpenBao off loopback unless the unsafe flag says otherwise.

    The embedded key server keeps its unseal key in the data directory, so a copy of
    that directory is a copy of every template. On loopback that is the development
    default; anywhere else it is how a production set-up would silently lose its
    protection. Without TLS options the server refuses a non-loopback address anyway,
    with its own message, so that case is left to it.
    """
    host, _port = split_host_port(settings.listen)
    if settings.hcvault_addr or is_loopback_host(host):
        return
    if settings.tls_cert is None and settings.tls_key is None and settings.client_ca is None:
        return
    if not args.dev_embedded_key_server_unsafe:
        raise CommandError(
            f"refusing to serve {settings.listen} with the embedded key server: its unseal "
            "key would live in --data-dir; pass --vault-addr (or set VAULT_ADDR) to a real "
            "Vault/OpenBao, or --dev-embedded-key-server-unsafe for development"
        )
    logging.getLogger(__name__).warning(
        "UNSAFE DEVELOPMENT MODE (--dev-embedded-key-server-unsafe): serving %s with the "
        "embedded OpenBao, whose unseal key is stored in %s; anyone holding that directory "
        "can decrypt every template. Never use this in production.",
        settings.listen,
        settings.data_dir,
    )


def _serve(args: argparse.Namespace) -> int:
    from vault.service.server import run

    settings = settings_from_args(args)
    configure_logging(args.log_level, args.log_format)
    _require_key_server(args, settings)
    run(settings, grace=args.grace)
    return 0
