"""``biovault audit ...``: fetch and verify the tamper-evident audit log.

``public-key``, ``checkpoint`` and ``export`` talk to the running service;
``verify``, ``verify-receipt`` and ``report`` work offline on files, trusting
nothing but the public key the auditor obtained independently.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vault.audit.note import NoteError, NoteVerifier
from vault.audit.receipt import ReceiptError, load_receipt, verify_receipt
from vault.audit.report import render_markdown, summarize
from vault.audit.verify import BundleInvalid, VerifiedBundle, verify_bundle
from vault.cli.common import (
    CommandError,
    Commands,
    add_client_flags,
    add_json_flag,
    client_tls,
    write_json,
)
from vault.client import ComplianceClient

__all__ = ["read_public_key", "register"]


def register(commands: Commands) -> None:
    """Add the ``audit`` command group."""
    group = commands.add_parser(
        "audit",
        help="fetch and verify the audit log",
        description="Fetch the signed Merkle audit log from the service, and verify or "
        "summarise exported bundles offline.",
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    public_key = actions.add_parser(
        "public-key",
        help="write the log's Ed25519 public key",
        description="Write the verifier key of the audit log; compare it with a copy "
        "obtained another way before relying on it.",
    )
    add_client_flags(public_key)
    public_key.add_argument("--out", required=True, metavar="FILE", help="where to write it")
    add_json_flag(public_key)
    public_key.set_defaults(handler=_public_key)

    checkpoint = actions.add_parser(
        "checkpoint",
        help="write the latest signed checkpoint",
        description="Write the log's latest signed checkpoint; keep it and pass it to a "
        "later `audit verify --previous-checkpoint` to prove the log only grew.",
    )
    add_client_flags(checkpoint)
    checkpoint.add_argument("--out", required=True, metavar="FILE", help="where to write it")
    add_json_flag(checkpoint)
    checkpoint.set_defaults(handler=_checkpoint)

    export = actions.add_parser(
        "export",
        help="download a self-contained bundle",
        description="Download entries, signed checkpoints and proofs into a new directory "
        "that `audit verify` checks offline.",
    )
    add_client_flags(export)
    export.add_argument("--out", required=True, metavar="DIR", help="new or empty directory")
    export.add_argument(
        "--purpose", default="audit", help="why (logged with the export; default %(default)s)"
    )
    add_json_flag(export)
    export.set_defaults(handler=_export)

    verify = actions.add_parser(
        "verify",
        help="verify a bundle offline",
        description="Check every signature, inclusion and consistency proof of a bundle; "
        "exit 1 naming the first bad entry.",
    )
    _add_offline_flags(verify)
    add_json_flag(verify)
    verify.set_defaults(handler=_verify)

    report = actions.add_parser(
        "report",
        help="verify a bundle and summarise it",
        description="Verify a bundle, then summarise it for a compliance review (actions, "
        "purposes, refusals, erasures, retention, key events) as Markdown or JSON.",
    )
    _add_offline_flags(report)
    report.add_argument("--out", metavar="FILE", help="write the Markdown here (default stdout)")
    add_json_flag(report)
    report.set_defaults(handler=_report)

    receipt = actions.add_parser(
        "verify-receipt",
        help="verify an erasure receipt offline",
        description="Check an erasure receipt's signed checkpoint and inclusion proof "
        "with the log's public key alone.",
    )
    receipt.add_argument("--receipt", required=True, metavar="FILE", help="receipt JSON")
    receipt.add_argument("--public-key", required=True, metavar="FILE", help="the log's key")
    add_json_flag(receipt)
    receipt.set_defaults(handler=_verify_receipt)


def _add_offline_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", required=True, metavar="DIR", help="the exported bundle")
    parser.add_argument("--public-key", required=True, metavar="FILE", help="the log's key")
    parser.add_argument(
        "--previous-checkpoint",
        metavar="FILE_OR_DIR",
        help="what you kept from an earlier audit: a checkpoint (`audit checkpoint --out`), "
        "an erasure receipt or an older bundle; checks this bundle extends it (default: none)",
    )


def read_public_key(path: str) -> str:
    """Read a verifier key file.

    Raises:
        CommandError: Unreadable or not a verifier key.
    """
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
        NoteVerifier(text)
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, NoteError) as error:
        raise CommandError(f"{path} is not a biovault audit public key: {error}") from None
    return text


def _write_text(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror or error}") from None


def _client(args: argparse.Namespace) -> ComplianceClient:
    return ComplianceClient(args.target, timeout=args.timeout, tls=client_tls(args))


def _public_key(args: argparse.Namespace) -> int:
    with _client(args) as client:
        key = client.public_key()
    NoteVerifier(key)  # refuse to save something that is not a key
    _write_text(args.out, key + "\n")
    if args.json:
        write_json(args.json, {"public_key": key, "out": args.out})
    if args.json != "-":
        print(f"wrote the audit log key {key}")
    print("compare it with a copy obtained another way before relying on it", file=sys.stderr)
    return 0


def _checkpoint(args: argparse.Namespace) -> int:
    with _client(args) as client:
        note = client.checkpoint()
    _write_text(args.out, note)
    origin, size = note.split("\n")[:2]
    if args.json:
        write_json(
            args.json, {"origin": origin, "tree_size": int(size), "out": args.out, "note": note}
        )
    if args.json != "-":
        print(f"wrote the checkpoint of {origin} at {size} entries")
    return 0


def _export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    try:
        with _client(args) as client:
            files = client.export(out, purpose=args.purpose)
    except (FileExistsError, ValueError) as error:
        raise CommandError(str(error)) from None
    size = (out / "MANIFEST").read_text(encoding="utf-8").split("\n")[2]
    if args.json:
        write_json(args.json, {"bundle": str(out), "files": files, "tree_size": int(size)})
    if args.json != "-":
        print(f"exported {size} entries to {out} ({', '.join(files)})")
    return 0


def _verified(args: argparse.Namespace) -> VerifiedBundle:
    previous = Path(args.previous_checkpoint) if args.previous_checkpoint else None
    if previous is not None and not previous.exists():
        raise CommandError(
            f"--previous-checkpoint {previous} does not exist; it is what you kept from an "
            "earlier audit (`biovault audit checkpoint --out FILE`, an erasure receipt or an "
            "older bundle); on a first audit leave the flag out"
        )
    key = read_public_key(args.public_key)
    try:
        return verify_bundle(Path(args.bundle), key, previous=previous)
    except OSError as error:  # unreadable files inside the bundle or the previous state
        name = error.filename or args.bundle
        raise CommandError(f"cannot read {name}: {error.strerror or error}") from None


def _verify(args: argparse.Namespace) -> int:
    try:
        bundle = _verified(args)
    except BundleInvalid as error:
        if args.json:
            write_json(
                args.json, {"verified": False, "first_bad_entry": error.entry, "error": str(error)}
            )
        where = "" if error.entry is None else f" at entry {error.entry}"
        raise CommandError(f"bundle verification FAILED{where}: {error}") from None
    if args.json:
        write_json(
            args.json,
            {
                "verified": True,
                "origin": bundle.origin,
                "tree_size": bundle.size,
                "previous_checkpoint_size": bundle.previous.size if bundle.previous else None,
            },
        )
    if args.json != "-":
        extends = (
            f"; extends the previous checkpoint of {bundle.previous.size} entries"
            if bundle.previous
            else ""
        )
        print(f"bundle verified: {bundle.size} entries of {bundle.origin}{extends}")
    return 0


def _report(args: argparse.Namespace) -> int:
    try:
        bundle = _verified(args)
    except BundleInvalid as error:
        where = "" if error.entry is None else f" at entry {error.entry}"
        raise CommandError(f"bundle verification FAILED{where}: {error}") from None
    summary = summarize(bundle)
    markdown = render_markdown(summary)
    if args.json:
        write_json(args.json, summary)
    if args.out:
        _write_text(args.out, markdown)
    elif args.json != "-":
        sys.stdout.write(markdown)
    return 0


def _verify_receipt(args: argparse.Namespace) -> int:
    key = read_public_key(args.public_key)
    try:
        receipt = load_receipt(Path(args.receipt).read_text(encoding="utf-8"))
        entry, checkpoint = verify_receipt(receipt, NoteVerifier(key))
    except OSError as error:
        raise CommandError(f"cannot read {args.receipt}: {error.strerror or error}") from None
    except ReceiptError as error:
        raise CommandError(f"receipt verification FAILED: {error}") from None
    result = {
        "verified": True,
        "action": entry.action,
        "collection": entry.collection,
        "subject": entry.subjects[0] if entry.subjects else "",
        "time": json.loads(receipt.entry)["time"],
        "leaf_index": receipt.leaf_index,
        "tree_size": checkpoint.size,
        "origin": checkpoint.origin,
    }
    if args.json:
        write_json(args.json, result)
    if args.json != "-":
        print(
            f"receipt verified: {entry.action} in {entry.collection} at {result['time']}, "
            f"entry {receipt.leaf_index} of {checkpoint.origin} (tree size {checkpoint.size})"
        )
    return 0
