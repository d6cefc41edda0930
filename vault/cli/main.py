"""Entry point of the ``biovault`` command (also ``python -m vault``).

Each command group lives in its own module with a ``register(commands)``
function; adding a group means adding its module to :data:`COMMAND_GROUPS`.
Exit codes: 0 success, 2 usage error (argparse), 1 any other failure, reported
as one line on stderr without a traceback (set ``BIOVAULT_DEBUG=1`` to get one).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Final

from vault import __version__
from vault.cli import (
    audit,
    bench,
    certs,
    cluster,
    collection,
    compliance,
    evaluate,
    fsck,
    health,
    keys,
    profile,
    serve,
    templates,
)
from vault.cli.common import CommandError, Commands
from vault.client import ClientError
from vault.errors import VaultError

__all__ = ["COMMAND_GROUPS", "build_parser", "main"]

#: ``register`` functions of the command groups, in help order.
COMMAND_GROUPS: Final[tuple[Callable[[Commands], None], ...]] = (
    serve.register,
    health.register,
    collection.register,
    templates.register,
    keys.register,
    audit.register,
    compliance.register,
    certs.register,
    fsck.register,
    cluster.register,
    bench.register,
    evaluate.register,
    profile.register,
)
_EXPECTED_ERRORS: Final = (CommandError, ClientError, VaultError, OSError)


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser."""
    parser = argparse.ArgumentParser(
        prog="biovault",
        description="Privacy-preserving biometric template vault.",
    )
    parser.add_argument("--version", action="version", version=f"biovault {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMAND_GROUPS:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command.

    Args:
        argv: Arguments without the program name (``sys.argv[1:]`` by default).

    Returns:
        The process exit code.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: 2 on usage errors, 0 after --help
        return exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 2
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        _fail("interrupted")
    except _EXPECTED_ERRORS as error:
        _fail(str(error))
    except Exception as error:  # the CLI's last resort: one line, never a traceback
        _fail(f"unexpected {type(error).__name__}: {error}")
    return 1


def _fail(message: str) -> None:
    if os.environ.get("BIOVAULT_DEBUG"):
        traceback.print_exc()
    print(f"biovault: error: {' '.join(message.split())}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
