"""``biovault enroll|verify|identify|delete``: work with enrolled templates."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from vault.cli.common import (
    Commands,
    add_client_flags,
    add_json_flag,
    connect,
    load_ids,
    load_templates,
    positive_int,
    write_json,
)
from vault.cli.compliance import deletion_json, write_receipt
from vault.cli.progress import Progress

__all__ = ["register"]


def register(commands: Commands) -> None:
    """Add the ``enroll``, ``verify``, ``identify`` and ``delete`` commands."""
    enroll = commands.add_parser(
        "enroll",
        help="enroll templates (all rows or none)",
        description="Protect and store every row of --templates under the id on the same "
        "line of --ids, streamed in chunks; either all rows are enrolled or none.",
    )
    add_client_flags(enroll)
    enroll.add_argument("--collection", required=True, help="target collection")
    enroll.add_argument("--templates", required=True, metavar="X.npy", help="(n, dim) float array")
    enroll.add_argument("--ids", required=True, metavar="IDS.txt", help="one subject id per row")
    _add_purpose(enroll)
    enroll.add_argument(
        "--consent-ref", required=True, help="reference to the subjects' recorded consent"
    )
    enroll.add_argument(
        "--legal-basis", required=True, help="legal basis of the processing, e.g. gdpr-art9-2a"
    )
    enroll.add_argument(
        "--batch-rows",
        type=positive_int,
        default=None,
        metavar="N",
        help="rows per streamed chunk (default: chunks of about 4 MB)",
    )
    add_json_flag(enroll)
    enroll.set_defaults(handler=_enroll)

    verify = commands.add_parser(
        "verify",
        help="1:1 comparison with one enrolled subject",
        description="Compare one probe template with the claimed subject; prints match or "
        "no match and the (rounded, possibly withheld) score. A no match still exits 0.",
    )
    add_client_flags(verify)
    verify.add_argument("--collection", required=True, help="collection to search")
    verify.add_argument("--id", required=True, dest="subject_id", help="claimed subject id")
    verify.add_argument("--template", required=True, metavar="Q.npy", help="one probe template")
    _add_purpose(verify)
    add_json_flag(verify)
    verify.set_defaults(handler=_verify)

    identify = commands.add_parser(
        "identify",
        help="1:N search of each probe row",
        description="Search the collection for each probe row and list its best candidates, "
        "best first. Only on collections created with --allow-identification.",
    )
    add_client_flags(identify)
    identify.add_argument("--collection", required=True, help="collection to search")
    identify.add_argument("--templates", required=True, metavar="Q.npy", help="(n, dim) probes")
    identify.add_argument(
        "--top-k",
        type=positive_int,
        default=5,
        metavar="K",
        help="candidates per probe (default %(default)s)",
    )
    _add_purpose(identify)
    add_json_flag(identify)
    identify.set_defaults(handler=_identify)

    delete = commands.add_parser(
        "delete",
        help="erase one subject's templates (or many)",
        description="Erase every template of one subject (--id) or of many (--ids FILE) beyond "
        "recovery; each erasure is logged and comes with a signed receipt (--receipt, "
        "or one file per subject under --receipts DIR).",
    )
    add_client_flags(delete)
    delete.add_argument("--collection", required=True, help="collection holding the subject")
    which = delete.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", dest="subject_id", help="subject to erase")
    which.add_argument("--ids", metavar="FILE", help="subjects to erase, one id per line")
    delete.add_argument(
        "--receipts", metavar="DIR", help="with --ids: one receipt per subject, DIR/<id>.json"
    )
    delete.add_argument(
        "--purpose", default="", help="why (default: erasure-request); logged with the erasure"
    )
    delete.add_argument("--receipt", metavar="FILE", help="write the erasure receipt here")
    add_json_flag(delete)
    delete.set_defaults(handler=_delete)


def _add_purpose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--purpose", required=True, help="processing purpose (one the collection declared)"
    )


def _enroll(args: argparse.Namespace) -> int:
    templates = load_templates(args.templates)
    ids = load_ids(args.ids, expected=templates.shape[0], templates_path=args.templates)
    with connect(args) as client:
        progress: Callable[[int], None] | None = None
        rows_per_chunk = args.batch_rows or 0
        if templates.nbytes > 8 * 1024 * 1024 or 0 < rows_per_chunk < templates.shape[0]:
            shown = Progress("enroll", unit=" templates", percent=True)
            progress = shown.counter("sent", templates.shape[0])
        enrolled = client.enroll(
            args.collection,
            ids,
            templates,
            purpose=args.purpose,
            consent_ref=args.consent_ref,
            legal_basis=args.legal_basis,
            chunk_rows=args.batch_rows,
            on_progress=progress,
        )
    if args.json:
        write_json(args.json, {"enrolled": enrolled, "collection": args.collection})
    if args.json != "-":
        print(f"enrolled {enrolled} templates into {args.collection}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    probe = load_templates(args.template, single=True)
    with connect(args) as client:
        result = client.verify(args.collection, args.subject_id, probe, purpose=args.purpose)
    if args.json:
        write_json(args.json, {"match": bool(result.match), "score": result.score})
    if args.json != "-":
        shown = "withheld" if result.score is None else f"{result.score:g}"
        print(f"{'match' if result.match else 'no match'} (score {shown})")
    return 0


def _identify(args: argparse.Namespace) -> int:
    probes = load_templates(args.templates)
    with connect(args) as client:
        results = client.identify(args.collection, probes, top_k=args.top_k, purpose=args.purpose)
    payload = {
        "results": [
            {"matches": [{"id": m.subject_id, "score": m.score} for m in matches]}
            for matches in results
        ],
        "top_k_capped": bool(getattr(results, "top_k_capped", False)),
    }
    if args.json:
        write_json(args.json, payload)
    if args.json != "-":
        for row, matches in enumerate(results):
            best = (
                ", ".join(
                    m.subject_id if m.score is None else f"{m.subject_id} ({m.score:g})"
                    for m in matches
                )
                or "no candidates"
            )
            print(f"probe {row}: {best}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    if args.ids:
        from vault.cli.bulk_delete import delete_from_file

        return delete_from_file(args)
    with connect(args) as client:
        receipt = client.delete(args.collection, args.subject_id, purpose=args.purpose)
    if args.receipt:
        write_receipt(args.receipt, receipt)
    if args.json:
        write_json(args.json, deletion_json(receipt))
    if args.json != "-":
        print(f"erased {receipt.erased} template(s) of {receipt.subject_id} from {args.collection}")
    return 0
