"""``biovault retention enforce`` and ``biovault consent withdraw``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from vault.audit.receipt import receipt_to_json
from vault.cli.common import (
    CommandError,
    Commands,
    add_client_flags,
    add_json_flag,
    client_tls,
    rfc3339,
    write_json,
)
from vault.client import ComplianceClient
from vault.types import DeleteResult

__all__ = ["deletion_json", "register", "write_receipt"]


def register(commands: Commands) -> None:
    """Add the ``retention`` and ``consent`` command groups."""
    retention = commands.add_parser(
        "retention",
        help="enforce retention periods",
        description="Erase templates older than their collection's retention period.",
    )
    actions = retention.add_subparsers(dest="action", required=True, metavar="ACTION")
    enforce = actions.add_parser(
        "enforce",
        help="erase every expired template now",
        description="Erase every expired template now, with one audit entry per subject "
        "(the service also does this on its own schedule).",
    )
    add_client_flags(enforce)
    enforce.add_argument("--collection", help="only this collection (default: all)")
    add_json_flag(enforce)
    enforce.set_defaults(handler=_enforce)

    consent = commands.add_parser(
        "consent",
        help="record consent decisions",
        description="Record a data subject's consent decisions.",
    )
    actions = consent.add_subparsers(dest="action", required=True, metavar="ACTION")
    withdraw = actions.add_parser(
        "withdraw",
        help="consent withdrawn: erase the subject",
        description="Consent withdrawn: erase the subject's templates enrolled under "
        "--consent-ref, audited, with a receipt.",
    )
    add_client_flags(withdraw)
    withdraw.add_argument("--collection", required=True, help="collection holding the subject")
    withdraw.add_argument("--id", required=True, dest="subject_id", help="the subject")
    withdraw.add_argument("--consent-ref", required=True, help="the consent being withdrawn")
    withdraw.add_argument("--receipt", metavar="FILE", help="write the erasure receipt here")
    add_json_flag(withdraw)
    withdraw.set_defaults(handler=_withdraw)


def deletion_json(result: DeleteResult) -> dict[str, Any]:
    """The JSON form of an erasure, with its receipt when there is one."""
    payload: dict[str, Any] = {
        "id": result.subject_id,
        "erased": result.erased,
        "erased_at": rfc3339(result.erased_at),
    }
    if result.receipt is not None:
        payload["receipt"] = receipt_to_json(result.receipt)
    return payload


def write_receipt(path: str, result: DeleteResult) -> None:
    """Write the erasure receipt of ``result`` as JSON.

    Raises:
        CommandError: No receipt came back, or the file cannot be written.
    """
    if result.receipt is None:
        raise CommandError("the service returned no erasure receipt")
    text = json.dumps(receipt_to_json(result.receipt), indent=2) + "\n"
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror or error}") from None


def _enforce(args: argparse.Namespace) -> int:
    with ComplianceClient(args.target, timeout=args.timeout, tls=client_tls(args)) as client:
        results = client.enforce_retention(args.collection)
    total = sum(len(r.erased) for r in results)
    if args.json:
        write_json(
            args.json,
            {
                "erased": total,
                "collections": [
                    {
                        "collection": r.collection,
                        "retention_seconds": r.retention_seconds,
                        "cutoff": rfc3339(r.cutoff),
                        "erased_ids": list(r.erased),
                    }
                    for r in results
                ],
            },
        )
    if args.json != "-":
        for r in results:
            print(f"{r.collection}: erased {len(r.erased)} expired template(s)")
        print(f"retention enforced: {total} template(s) erased")
    return 0


def _withdraw(args: argparse.Namespace) -> int:
    with ComplianceClient(args.target, timeout=args.timeout, tls=client_tls(args)) as client:
        result = client.withdraw_consent(
            args.collection, args.subject_id, consent_ref=args.consent_ref
        )
    if args.receipt:
        write_receipt(args.receipt, result)
    if args.json:
        write_json(args.json, deletion_json(result))
    if args.json != "-":
        print(f"consent withdrawn: erased {result.erased} template(s) of {result.subject_id}")
    return 0
