"""``biovault serve``: run the gRPC service until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from vault.cli.common import CommandError, Commands, add_vault_flags, positive_int
from vault.cli.logsetup import LOG_FORMATS, configure_logging
from vault.config import DEFAULT_LISTEN, ServeSettings

__all__ = ["register", "settings_from_args"]

_DEFAULTS = ServeSettings(data_dir=Path("."))


def register(commands: Commands) -> None:
    """Add the ``serve`` command."""
    parser = commands.add_parser(
        "serve",
        help="run the gRPC service",
        description=(
            "Run the vault service until SIGTERM/SIGINT. Without --vault-addr and "
            "VAULT_ADDR, a persistent embedded OpenBao is started under --data-dir."
        ),
    )
    parser.add_argument(
        "--data-dir", required=True, type=Path, metavar="DIR", help="state directory"
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
        f"default {_DEFAULTS.vault_approle_mount})",
    )
    parser.add_argument(
        "--vault-timeout",
        type=float,
        default=_DEFAULTS.vault_timeout,
        metavar="SECONDS",
        help="timeout of each key service request",
    )
    parser.add_argument(
        "--transit-mount", default=_DEFAULTS.transit_mount, help="Transit engine mount"
    )
    parser.add_argument(
        "--kek-name", default=_DEFAULTS.kek_name, help="Transit key wrapping the data keys"
    )
    parser.add_argument(
        "--max-message-bytes",
        type=positive_int,
        default=_DEFAULTS.max_message_bytes,
        help="largest gRPC message sent or received",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=_DEFAULTS.workers, help="RPC threads"
    )
    parser.add_argument(
        "--grace", type=float, default=10.0, metavar="SECONDS", help="drain time on shutdown"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="log verbosity",
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=LOG_FORMATS,
        help="text for people, json for log shippers (one object per line)",
    )
    parser.add_argument(
        "--retention-interval",
        type=float,
        default=_DEFAULTS.retention_interval,
        metavar="SECONDS",
        help="seconds between scheduled erasures of expired templates; 0 = off "
        f"(default {_DEFAULTS.retention_interval:g})",
    )
    parser.set_defaults(handler=_serve)


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    """Resolve flags and the VAULT_* environment into :class:`ServeSettings`.

    Raises:
        CommandError: If the token file cannot be read or is empty.
    """
    token = os.environ.get("VAULT_TOKEN") or None
    if args.vault_token_file:
        try:
            token = Path(args.vault_token_file).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise CommandError(
                f"cannot read {args.vault_token_file}: {error.strerror or error}"
            ) from None
        if not token:
            raise CommandError(f"{args.vault_token_file} is empty; expected a Vault token")
    role_id = args.vault_role_id or os.environ.get("VAULT_ROLE_ID") or None
    secret_id_file = args.vault_secret_id_file or os.environ.get("VAULT_SECRET_ID_FILE") or None
    if (role_id is None) != (secret_id_file is None):
        raise CommandError(
            "AppRole login needs both --vault-role-id and --vault-secret-id-file "
            "(or VAULT_ROLE_ID and VAULT_SECRET_ID_FILE)"
        )
    if not args.vault_timeout > 0:
        raise CommandError("--vault-timeout must be positive")
    if args.rate_limit < 0:
        raise CommandError("--rate-limit must be >= 0")
    return ServeSettings(
        data_dir=args.data_dir.expanduser().resolve(),
        listen=args.listen,
        vault_addr=args.vault_addr or os.environ.get("VAULT_ADDR") or None,
        vault_token=token,
        vault_ca_file=args.vault_ca_file or os.environ.get("VAULT_CACERT") or None,
        vault_role_id=role_id,
        vault_secret_id_file=Path(secret_id_file).expanduser() if secret_id_file else None,
        vault_approle_mount=args.vault_approle_mount
        or os.environ.get("VAULT_APPROLE_MOUNT")
        or _DEFAULTS.vault_approle_mount,
        vault_timeout=args.vault_timeout,
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
    )


def _serve(args: argparse.Namespace) -> int:
    from vault.service.server import run

    settings = settings_from_args(args)
    configure_logging(args.log_level, args.log_format)
    run(settings, grace=args.grace)
    return 0
