"""``biovault certs dev``: a development CA, server certificate and one client per role."""

from __future__ import annotations

import argparse
from pathlib import Path

from vault.cli.common import Commands, add_json_flag, write_json
from vault.cli.devcerts import DEFAULT_SERVER_NAMES, write_dev_pki
from vault.service.roles import Role

__all__ = ["register"]


def register(commands: Commands) -> None:
    """Add the ``certs`` command group."""
    certs = commands.add_parser(
        "certs",
        help="TLS certificates for development",
        description="Make TLS certificates for development and tests.",
    )
    sub = certs.add_subparsers(dest="certs_command", required=True, metavar="COMMAND")
    dev = sub.add_parser(
        "dev",
        help="make a development CA, a server certificate and one client certificate per role",
        description=(
            "Write ca.pem, server.pem/server.key and <role>.pem/<role>.key for every role "
            "(" + ", ".join(r.value for r in Role) + ") to --out. The CA key is not kept. "
            "Development only: production certificates come from your own CA."
        ),
    )
    dev.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    dev.add_argument(
        "--server-name",
        action="append",
        metavar="NAME",
        help="DNS name or IP of the server certificate (repeatable; default "
        + ", ".join(DEFAULT_SERVER_NAMES)
        + ")",
    )
    dev.add_argument("--force", action="store_true", help="replace an existing development CA")
    dev.add_argument(
        "--owner",
        type=owner_ids,
        metavar="UID[:GID]",
        help="give the directory and every file to this numeric owner, e.g. 10001:10001 for "
        "the container's user (keys stay 0600; needs root for another uid; "
        "default: the caller)",
    )
    add_json_flag(dev)
    dev.set_defaults(handler=_dev)


def owner_ids(text: str) -> tuple[int, int]:
    """Parse ``UID[:GID]`` into ``(uid, gid)``, gid -1 when left out (an argparse ``type``)."""
    uid_text, colon, gid_text = text.partition(":")
    if not uid_text.isdigit() or (colon and not gid_text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not UID or UID:GID (numbers)")
    return int(uid_text), int(gid_text) if gid_text else -1


def _dev(args: argparse.Namespace) -> int:
    names = tuple(args.server_name) if args.server_name else DEFAULT_SERVER_NAMES
    pki = write_dev_pki(
        args.out,
        tuple(r.value for r in Role),
        server_names=names,
        overwrite=args.force,
        owner=args.owner,
    )
    summary = {
        "ca": str(pki.ca_cert),
        "server": {"cert": str(pki.server_cert), "key": str(pki.server_key)},
        "clients": {role: {"cert": str(c), "key": str(k)} for role, (c, k) in pki.clients.items()},
    }
    if args.json != "-":
        print(
            f"wrote a development CA, a server certificate and {len(pki.clients)} client "
            f"certificates to {args.out}"
        )
    if args.json:
        write_json(args.json, summary)
    return 0
