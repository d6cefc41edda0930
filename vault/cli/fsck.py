"""``biovault fsck``: consistency check of a stopped vault's data directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vault.cli.common import Commands, add_json_flag, add_store_flags, add_vault_flags, write_json
from vault.config import settings_from_environment

__all__ = ["register"]


def register(commands: Commands) -> None:
    """Add the ``fsck`` command."""
    parser = commands.add_parser(
        "fsck",
        help="check a stopped vault's data directory for consistency",
        description=(
            "Check that blocks, subjects, slots, settings and headers agree, that every "
            "sealed block opens under its data key and that the audit log verifies. "
            "Writes nothing. Stop the service first. Exit 0 if consistent, 1 otherwise."
        ),
    )
    parser.add_argument(
        "--data-dir", required=True, type=Path, metavar="DIR", help="state directory"
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="structure only: do not start the key service (sealed blocks and the "
        "audit log's signatures are not checked)",
    )
    add_store_flags(parser)
    add_vault_flags(parser)
    add_json_flag(parser)
    parser.set_defaults(handler=_fsck)


def _fsck(args: argparse.Namespace) -> int:
    from vault.service.bootstrap import run_fsck

    settings = settings_from_environment(
        args.data_dir,
        token_file=args.vault_token_file,
        hcvault_addr=args.vault_addr or None,
        hcvault_ca_file=args.vault_ca_file or None,
        store_url=args.store_url or None,
        store_password_file=args.store_password_file,
    )
    report = run_fsck(settings, with_keys=not args.offline)
    payload = {"ok": not report.problems, "problems": report.problems, **dict(report.counts)}
    if args.json:
        write_json(args.json, payload)
    if args.json != "-":
        for problem in report.problems:
            print(f"problem: {problem}", file=sys.stderr)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items()))
        verdict = "consistent" if not report.problems else f"{len(report.problems)} problem(s)"
        where = settings.store.describe() if settings.store_url else args.data_dir
        print(f"{where}: {verdict} ({counts})")
    return 0 if not report.problems else 1
