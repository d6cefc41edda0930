"""Helpers shared by the command modules: common flags, input files, output."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np

from vault.audit.entry import format_time
from vault.client import DEFAULT_TIMEOUT, ClientTls, VaultClient
from vault.config import DEFAULT_TARGET

__all__ = [
    "CommandError",
    "Commands",
    "Handler",
    "add_client_flags",
    "add_json_flag",
    "add_vault_flags",
    "client_tls",
    "connect",
    "load_ids",
    "load_templates",
    "positive_int",
    "read_id_lines",
    "rfc3339",
    "write_json",
]

#: The object ``add_subparsers()`` returns; each command group registers on it.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
#: What a command runs: parsed arguments in, exit code out.
Handler = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    """A user error the CLI reports as one line on stderr (exit code 1)."""


def positive_int(text: str) -> int:
    """Parse an integer >= 1 (an argparse ``type``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not >= 1")
    return value


def add_client_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--target``, ``--timeout`` and the TLS flags to a client command."""
    parser.add_argument(
        "--target",
        default=os.environ.get("BIOVAULT_TARGET") or DEFAULT_TARGET,
        metavar="HOST:PORT",
        help="address of the vault service (env BIOVAULT_TARGET; default %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"deadline of each call (default {DEFAULT_TIMEOUT:g})",
    )
    tls = parser.add_argument_group(
        "TLS", "without --ca-file: plaintext, loopback targets only (development mode)"
    )
    tls.add_argument(
        "--ca-file",
        "--tls-ca",
        dest="ca_file",
        default=os.environ.get("BIOVAULT_CA_FILE") or None,
        metavar="FILE",
        help="CA bundle verifying the service's certificate; turns TLS on (env BIOVAULT_CA_FILE)",
    )
    tls.add_argument(
        "--tls-cert",
        default=os.environ.get("BIOVAULT_TLS_CERT") or None,
        metavar="FILE",
        help="client certificate naming this caller's role (env BIOVAULT_TLS_CERT)",
    )
    tls.add_argument(
        "--tls-key",
        default=os.environ.get("BIOVAULT_TLS_KEY") or None,
        metavar="FILE",
        help="private key of --tls-cert (env BIOVAULT_TLS_KEY)",
    )
    tls.add_argument(
        "--tls-server-name",
        default=os.environ.get("BIOVAULT_TLS_SERVER_NAME") or None,
        metavar="NAME",
        help="name to check the service's certificate against, if not the target host "
        "(env BIOVAULT_TLS_SERVER_NAME)",
    )


def add_vault_flags(parser: argparse.ArgumentParser) -> None:
    """Where the key service is and how to reach it (``serve`` and ``fsck``)."""
    parser.add_argument(
        "--vault-addr",
        metavar="URL",
        help="HashiCorp Vault / OpenBao address (env VAULT_ADDR; default: the embedded "
        "development OpenBao under --data-dir, loopback only)",
    )
    parser.add_argument(
        "--vault-token-file",
        metavar="FILE",
        help="file holding the Vault token; without it the token itself is taken from env "
        "VAULT_TOKEN",
    )
    parser.add_argument(
        "--vault-ca-file", metavar="FILE", help="CA bundle of Vault's TLS (env VAULT_CACERT)"
    )


def add_store_flags(parser: argparse.ArgumentParser) -> None:
    """Where the template store is when it is not SQLite under --data-dir."""
    parser.add_argument(
        "--store-url",
        metavar="URL",
        help="postgresql://USER@HOST:PORT/DB[?sslmode=...]: keep templates, keys and the "
        "audit log in that PostgreSQL database (env BIOVAULT_STORE_URL; default: SQLite "
        "under --data-dir). Never put the password in the URL",
    )
    parser.add_argument(
        "--store-password-file",
        type=Path,
        metavar="FILE",
        help="file holding the database role's password (otherwise libpq's PGPASSWORD, "
        "PGPASSFILE or ~/.pgpass)",
    )


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--json PATH`` (``-`` for stdout)."""
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="write the machine-readable result to PATH ('-' for stdout)",
    )


def client_tls(args: argparse.Namespace) -> ClientTls | None:
    """The TLS settings of a client command (None: loopback plaintext).

    Raises:
        CommandError: If a client certificate is given without a CA file.
    """
    if args.ca_file is None:
        if args.tls_cert or args.tls_key:
            raise CommandError("--tls-cert/--tls-key need --ca-file (the service's CA)")
        return None
    return ClientTls(
        ca_file=Path(args.ca_file),
        cert_file=Path(args.tls_cert) if args.tls_cert else None,
        key_file=Path(args.tls_key) if args.tls_key else None,
        server_name=args.tls_server_name,
    )


def connect(args: argparse.Namespace) -> VaultClient:
    """Open a client for the ``--target``/``--timeout``/TLS flags of a command."""
    return VaultClient(args.target, timeout=args.timeout, tls=client_tls(args))


def write_json(path: str, payload: dict[str, Any]) -> None:
    """Write ``payload`` as JSON to ``path``, or to stdout when ``path`` is ``-``.

    Raises:
        CommandError: If the file cannot be written.
    """
    text = json.dumps(payload, indent=2) + "\n"
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror or error}") from None


def rfc3339(seconds: float | None) -> str | None:
    """The one way a time goes into the CLI's JSON: RFC 3339 UTC with microseconds.

    It is the audit log's own format (``2026-12-02T01:02:03.000000Z``), so times in
    receipts, reports and every other output compare as text.

    Args:
        seconds: Seconds since the Unix epoch; None or 0 (the wire's "not set").

    Returns:
        The time as text, or None when it is not set.
    """
    if not seconds:
        return None
    return format_time(round(seconds * 1_000_000))


def _is_npy(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(6) == b"\x93NUMPY"


def load_npy(path: str) -> np.ndarray:
    """Load one plain ``.npy`` array; pickled objects are never loaded.

    Raises:
        CommandError: If the file is missing or unreadable, not a ``.npy`` array
            (``.npz`` archives included), or an array of Python objects.
    """
    try:
        array = np.load(path, allow_pickle=False)
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError:
        if _is_npy(path):  # a real .npy header, so the pickle numpy refused is its data
            raise CommandError(
                f"{path} holds Python objects, which are never unpickled; save plain "
                "numbers or fixed-width text, e.g. np.save(path, np.asarray(values, dtype=str))"
            ) from None
        raise CommandError(f"{path} is not a .npy array file") from None
    if not isinstance(array, np.ndarray):
        raise CommandError(f"{path} is not a .npy array file")
    return array


def load_templates(path: str, *, single: bool = False) -> np.ndarray:
    """Load an (n, dim) float32/float64 ``.npy`` file.

    Args:
        path: The ``.npy`` file.
        single: Expect exactly one template; a 1-D array counts as one row.

    Returns:
        The array, 2-D.

    Raises:
        CommandError: If the file is missing, not a plain ``.npy`` array, of
            another dtype or shape, or empty.
    """
    array = load_npy(path)
    if array.dtype.name not in ("float32", "float64"):
        raise CommandError(
            f"{path} holds {array.dtype} values; templates must be float32 or float64"
        )
    if single and array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or 0 in array.shape:
        raise CommandError(f"{path} has shape {array.shape}; templates must have shape (n, dim)")
    if single and array.shape[0] != 1:
        raise CommandError(f"{path} holds {array.shape[0]} templates; exactly one is expected")
    return array


def read_id_lines(path: str) -> list[str]:
    """Ids one per line, trailing blank lines ignored.

    Raises:
        CommandError: If the file is unreadable, not UTF-8, or has an empty line.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise CommandError(f"{path} is not UTF-8 text") from None
    ids = [line.strip() for line in text.splitlines()]
    while ids and not ids[-1]:
        ids.pop()
    if "" in ids:
        raise CommandError(f"{path} line {ids.index('') + 1} is empty; expected one id per line")
    return ids


def load_ids(path: str, *, expected: int, templates_path: str) -> list[str]:
    """Read subject ids, one per line, aligned with the template rows.

    Args:
        path: The ids text file.
        expected: Number of template rows.
        templates_path: Name of the templates file, for the error message.

    Returns:
        The ids in file order.

    Raises:
        CommandError: If the file is unreadable, has an empty line, or its id
            count differs from ``expected``.
    """
    ids = read_id_lines(path)
    if len(ids) != expected:
        raise CommandError(
            f"{path} has {len(ids)} ids but {templates_path} has {expected} rows; they must align"
        )
    return ids
