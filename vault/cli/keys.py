"""``biovault keys status|rotate``: key officers' commands (clients of KeyAdmin).

* ``keys status`` - KEK and DEK versions and how many stored blobs each KEK
  version protects.
* ``keys rotate kek`` - Transit rotate, rewrap every wrapped data key, raise
  ``min_decryption_version``; optionally trim old versions after a grace period.
* ``keys rotate dek`` - fresh data keys; blobs re-encrypted (AEAD layer only).

Rotations run inside the service, online; progress goes to stderr, the summary
to ``--json``. An interrupted rotation (crash, ``kill -9``) is finished by running
the same command again; ``--resume`` only finishes one and is otherwise a no-op.
The exit code is 1 if the rotation could not finish (``remaining_old`` > 0).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any, Final

from vault.cli.common import (
    CommandError,
    Commands,
    add_client_flags,
    add_json_flag,
    client_tls,
    positive_int,
    rfc3339,
    write_json,
)
from vault.cli.progress import Progress
from vault.cli.transform_keys import add_cancelable_rotation, transform_key_counts
from vault.client import KeyAdminClient, KeyStatus, RotationJournal, RotationSummary

__all__ = ["ROTATION_KINDS", "register"]


def register(commands: Commands) -> None:
    """Add the ``keys`` command group."""
    group = commands.add_parser(
        "keys",
        help="key status and online key rotation",
        description="Show which key versions protect what, and rotate keys online.",
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    status = actions.add_parser(
        "status",
        help="show KEK / DEK versions and blob counts",
        description="Show the Transit KEK version, the data key of every collection, how "
        "many blobs each key version protects, and the state of the last rotations.",
    )
    add_client_flags(status)
    add_json_flag(status)
    status.set_defaults(handler=_status)

    rotate = actions.add_parser(
        "rotate",
        help="rotate keys while the service keeps serving",
        description="Rotate one kind of key inside the running service; an interrupted "
        "rotation is finished by running the same command again.",
    )
    kinds = rotate.add_subparsers(dest="kind", required=True, metavar="KIND")
    for add_kind in ROTATION_KINDS:
        add_kind(kinds)


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number >= 0")
    return value


def _common_rotation_flags(parser: argparse.ArgumentParser) -> None:
    add_client_flags(parser)
    add_json_flag(parser)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="only finish an interrupted rotation; do nothing if none is pending",
    )
    parser.add_argument(
        "--throttle",
        type=_non_negative,
        default=0.0,
        metavar="SECONDS",
        help="pause after each batch / block to limit load on a busy service "
        "(default %(default)g: no pause)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _add_kek(kinds: Commands) -> None:
    kek = kinds.add_parser(
        "kek",
        help="rotate the Vault Transit KEK and rewrap every data key",
        description=(
            "Transit rotate, batch rewrap of every wrapped data key, then raise "
            "min_decryption_version so old KEK versions no longer decrypt."
        ),
    )
    _common_rotation_flags(kek)
    kek.add_argument(
        "--batch-size",
        type=positive_int,
        default=128,
        metavar="N",
        help="wrapped keys per Transit batch rewrap (default 128)",
    )
    kek.add_argument(
        "--trim-after",
        type=_non_negative,
        default=None,
        metavar="SECONDS",
        help="delete old KEK versions for good this long after success (default: never)",
    )
    kek.set_defaults(handler=_rotate_kek)


def _add_dek(kinds: Commands) -> None:
    dek = kinds.add_parser(
        "dek",
        help="new data keys; re-encrypt stored blobs (templates stay HE-encrypted)",
        description=(
            "Give collections fresh data keys and re-encrypt their blocks' AES-GCM layer "
            "(no template is ever decrypted). Without --collection, every collection "
            "and the CKKS key set."
        ),
    )
    _common_rotation_flags(dek)
    dek.add_argument(
        "--collection",
        action="append",
        default=[],
        metavar="C",
        help="limit to this collection (repeatable; default: every collection)",
    )
    dek.set_defaults(handler=_rotate_dek)


#: ``add_parser`` functions of the ``keys rotate`` kinds; a new kind appends its own.
ROTATION_KINDS: Final[tuple[Callable[[Commands], None], ...]] = (
    _add_kek,
    _add_dek,
    add_cancelable_rotation,
)


def _connect(args: argparse.Namespace) -> KeyAdminClient:
    return KeyAdminClient(args.target, timeout=args.timeout, tls=client_tls(args))


def _counts_json(counts: Mapping[int, int]) -> dict[str, int]:
    return {str(version): n for version, n in sorted(counts.items())}


def _journal_json(journal: RotationJournal) -> dict[str, Any]:
    return {
        "state": journal.state,
        "from_version": journal.from_version,
        "to_version": journal.to_version,
        "started_at": rfc3339(journal.started_at),
        "finished_at": rfc3339(journal.finished_at),
        "trim_at": rfc3339(journal.trim_at),
        "trimmed": journal.trimmed,
    }


def status_json(status: KeyStatus) -> dict[str, Any]:
    """The JSON document of ``biovault keys status`` (without the transform key counts)."""
    return {
        "kek_name": status.kek_name,
        "kek_version": status.kek_version,
        "min_decryption_version": status.min_decryption_version,
        "min_available_version": status.min_available_version,
        "blobs_by_kek_version": _counts_json(status.blobs_by_kek_version),
        "wrapped_keys_by_kek_version": _counts_json(status.wrapped_keys_by_kek_version),
        "collections": [
            {
                "name": c.name,
                "dek_version": c.dek_version,
                "dek_versions": list(c.dek_versions),
                "blocks": c.blocks,
                "blocks_by_dek_version": _counts_json(c.blocks_by_dek_version),
            }
            for c in status.collections
        ],
        "rotations": {kind: _journal_json(j) for kind, j in status.rotations.items()},
        "running": status.running,
        "auth_method": status.auth_method,
        "secrets": [
            {"kind": s.kind, "owner": s.owner, "version": s.version, "kek_version": s.kek_version}
            for s in status.secrets
        ],
    }


def summary_json(summary: RotationSummary) -> dict[str, Any]:
    """The JSON document of ``biovault keys rotate kek|dek``."""
    result: dict[str, Any] = {
        "kind": summary.kind,
        "key_version": summary.key_version,
        "rewrapped": summary.rewrapped,
        "remaining_old": summary.remaining_old,
        "from_version": summary.from_version,
        "resumed": summary.resumed,
        "noop": summary.noop,
        "started_at": rfc3339(summary.started_at),
        "finished_at": rfc3339(summary.finished_at),
    }
    if summary.kind == "kek":
        result["trim_at"] = rfc3339(summary.trim_at)
    else:
        result["resealed"] = summary.resealed
        result["collections"] = dict(summary.collections)
        result["keyset_resealed"] = summary.keyset_resealed
    return result


def _status(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        status = client.status()
    keyed = transform_key_counts(args, [c.name for c in status.collections])
    document = status_json(status)
    document["templates_by_transform_key_version"] = keyed
    if args.json:
        write_json(args.json, document)
    if args.json != "-":
        blobs = ", ".join(f"v{v}: {n}" for v, n in sorted(status.blobs_by_kek_version.items()))
        print(
            f"KEK {status.kek_name} version {status.kek_version} "
            f"(decrypts from v{status.min_decryption_version}); "
            f"blobs by KEK version: {blobs or 'none'}"
        )
        for collection in status.collections:
            print(
                f"  collection {collection.name}: DEK v{collection.dek_version}, "
                f"{collection.blocks} block(s)"
            )
        for name, counts in keyed.items():
            versions = ", ".join(f"v{v}: {n}" for v, n in counts.items())
            print(f"  collection {name}: templates by transform key version: {versions or 'none'}")
        for kind, journal in status.rotations.items():
            if journal.pending:
                print(f"  interrupted {kind.upper()} rotation pending: rerun `keys rotate {kind}`")
    return 0


def _progress_printer(args: argparse.Namespace) -> Callable[[str, int, int, str], None] | None:
    # Every batch is logged: a rotation has few, and each is a durable step to resume from.
    return None if args.quiet else Progress(f"keys rotate {args.kind}", log_seconds=0)


def _finish(args: argparse.Namespace, summary: RotationSummary) -> int:
    if args.json:
        write_json(args.json, summary_json(summary))
    if summary.remaining_old:
        raise CommandError(
            f"{summary.kind.upper()} rotation incomplete: {summary.remaining_old} item(s) "
            "still under an old key version (old versions stay enabled); see the service log "
            "and rerun the command"
        )
    if args.json != "-":
        verb = "nothing to resume" if summary.noop else "rotated"
        print(f"{summary.kind.upper()} {verb}: key version {summary.key_version}")
    return 0


def _rotate_kek(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        summary = client.rotate(
            "kek",
            resume_only=args.resume,
            batch_size=args.batch_size,
            throttle=args.throttle,
            trim_after=args.trim_after,
            on_progress=_progress_printer(args),
        )
    return _finish(args, summary)


def _rotate_dek(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        summary = client.rotate(
            "dek",
            resume_only=args.resume,
            collections=args.collection,
            throttle=args.throttle,
            on_progress=_progress_printer(args),
        )
    return _finish(args, summary)
