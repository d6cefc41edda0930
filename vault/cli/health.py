"""``biovault health``: exit 0 once the service reports SERVING."""

from __future__ import annotations

import argparse
import sys
import time

from vault.cli.common import Commands, add_client_flags, add_json_flag, connect, write_json
from vault.client import ClientError

__all__ = ["register"]


def register(commands: Commands) -> None:
    """Add the ``health`` command."""
    parser = commands.add_parser(
        "health",
        help="check that the service is SERVING",
        description="Exit 0 if the service reports SERVING, 1 otherwise.",
    )
    add_client_flags(parser)
    parser.add_argument(
        "--service", default="", help="service name to check (default: the overall status)"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="keep asking for up to SECONDS until the service is SERVING "
        "(default %(default)g: ask once)",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=_health)


def _health(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + max(args.wait, 0.0)
    with connect(args) as client:
        while True:
            try:
                status = client.health_check(args.service, timeout=min(args.timeout, 5.0))
                problem = ""
            except ClientError as error:
                status, problem = "UNREACHABLE", str(error)
            if status == "SERVING" or time.monotonic() >= deadline:
                break
            time.sleep(0.25)
    if args.json:
        write_json(args.json, {"status": status, "serving": status == "SERVING"})
    if status == "SERVING":
        if args.json != "-":
            print(status)
        return 0
    print(f"biovault: error: {args.target} is not serving: {problem or status}", file=sys.stderr)
    return 1
