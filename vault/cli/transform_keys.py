"""``biovault keys rotate cancelable``: renew a keyed collection's transform key.

Registered as one kind of ``keys rotate`` (see :data:`vault.cli.keys.ROTATION_KINDS`).
Prints ``{"kind": "cancelable", "collection": C, "key_version": N, ...}``; with
``--revoke-old`` every template under an older key version is erased (each erasure
audited). Templates of one person under two key versions are unlinkable.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from vault.cli.common import Commands, add_client_flags, add_json_flag, client_tls, write_json
from vault.client import ClientError, KeyAdminClient

__all__ = ["add_cancelable_rotation", "transform_key_counts"]


def add_cancelable_rotation(kinds: Commands) -> None:
    """Add ``keys rotate cancelable``."""
    parser = kinds.add_parser(
        "cancelable",
        help="new transform key version of a cancelable or hybrid collection",
        description=(
            "Start a new transform key version: new enrolments use it; templates under "
            "older versions keep matching until re-enrolled or revoked (--revoke-old)."
        ),
    )
    add_client_flags(parser)
    add_json_flag(parser)
    parser.add_argument(
        "--collection", required=True, metavar="C", help="the cancelable or hybrid collection"
    )
    parser.add_argument(
        "--revoke-old",
        action="store_true",
        help="erase every template enrolled under an older key version",
    )
    parser.set_defaults(handler=_rotate_cancelable)


def _rotate_cancelable(args: argparse.Namespace) -> int:
    with KeyAdminClient(args.target, timeout=args.timeout, tls=client_tls(args)) as client:
        done = client.renew_transform_key(args.collection, revoke_old=args.revoke_old)
    summary = {
        "kind": "cancelable",
        "collection": done.collection,
        "key_version": done.key_version,
        "revoked": done.revoked,
        "templates_by_key_version": _counts_json(done.templates_by_key_version),
    }
    if args.json:
        write_json(args.json, summary)
    if args.json != "-":
        revoked = f", {done.revoked} old template(s) revoked" if args.revoke_old else ""
        print(
            f"CANCELABLE rotated: {done.collection} now at key version {done.key_version}{revoked}"
        )
    return 0


def _counts_json(counts: Mapping[int, int]) -> dict[str, int]:
    return {str(version): n for version, n in sorted(counts.items())}


def transform_key_counts(args: argparse.Namespace, collections: list[str]) -> dict[str, Any]:
    """Live templates per transform key version of every keyed collection among
    ``collections`` (for ``keys status``); ckks collections have none and are skipped."""
    counts: dict[str, Any] = {}
    with KeyAdminClient(args.target, timeout=args.timeout, tls=client_tls(args)) as client:
        for name in collections:
            try:
                status = client.transform_key_status(name)
            except ClientError as error:
                # By name: the CLI layer does not import grpc.
                if error.code.name != "FAILED_PRECONDITION":
                    raise
            else:
                counts[name] = _counts_json(status.templates_by_key_version)
    return counts
