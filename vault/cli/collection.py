"""``biovault collection create|get``: manage collections."""

from __future__ import annotations

import argparse
import dataclasses
import re
from typing import Any

from vault.cli.common import (
    Commands,
    add_client_flags,
    add_json_flag,
    connect,
    positive_int,
    rfc3339,
    write_json,
)
from vault.cli.profile import read_profile
from vault.types import CollectionInfo, CollectionPolicy, CollectionSpec, ProtectionMode

__all__ = ["collection_json", "duration", "register"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "y": 365 * 86_400}


def register(commands: Commands) -> None:
    """Add the ``collection`` command group."""
    group = commands.add_parser(
        "collection",
        help="create or describe collections",
        description="Create a collection (its protection mode, dimension, purposes and score "
        "controls are fixed at creation) or describe an existing one.",
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create",
        help="create a collection",
        description="Create an empty collection. Identification (1:N) is refused unless "
        "--allow-identification is given; enrolment and matching must name one of --purposes.",
    )
    add_client_flags(create)
    create.add_argument("--name", required=True, help="collection name")
    create.add_argument(
        "--mode",
        required=True,
        choices=[mode.value for mode in ProtectionMode],
        help="how templates are protected at rest",
    )
    create.add_argument("--dim", required=True, type=positive_int, help="template length")
    create.add_argument(
        "--allow-identification",
        action="store_true",
        help="allow 1:N identification (refused otherwise)",
    )
    create.add_argument(
        "--purposes",
        type=_purposes,
        required=True,
        metavar="P[,P...]",
        help="comma-separated processing purposes; requests must state one of them",
    )
    create.add_argument(
        "--retention",
        dest="retention_seconds",  # policy flags: dest = the CollectionPolicy field
        type=duration,
        default=None,
        metavar="DURATION",
        help="how long templates are kept after enrolment, e.g. 365d, 12h, 90s "
        "(default: 3 years, the BIPA limit)",
    )
    create.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="X",
        help="match decision threshold on the score (default: the vault's)",
    )
    create.add_argument(
        "--score-decimals",
        type=int,
        default=None,
        metavar="D",
        help="decimals scores are rounded to before leaving the vault (0-6; default 2)",
    )
    create.add_argument(
        "--max-top-k",
        type=positive_int,
        default=None,
        metavar="K",
        help="most candidates identify returns per probe; larger --top-k is capped (default 10)",
    )
    create.add_argument(
        "--decision-only",
        action="store_true",
        help="verify answers only match/no match, identify only ids: no scores leave",
    )
    create.add_argument(
        "--profile",
        metavar="PROFILE.npz",
        help="cancelable, hybrid: whiten with this embedding profile (`biovault profile fit`); "
        "recommended - without one, a key holder with face data can pick the template "
        "out of its orbit (docs/protection.md)",
    )
    add_json_flag(create)
    create.set_defaults(handler=_create)

    get = actions.add_parser(
        "get",
        help="describe a collection",
        description="Show a collection's settings and how many subjects are enrolled.",
    )
    add_client_flags(get)
    get.add_argument("--name", required=True, help="collection name")
    add_json_flag(get)
    get.set_defaults(handler=_get)


def collection_json(info: CollectionInfo) -> dict[str, Any]:
    """The JSON form of a collection."""
    return {
        "name": info.name,
        "mode": info.mode.value,
        "dim": info.dim,
        "allow_identification": info.allow_identification,
        "purposes": list(info.purposes),
        "match_threshold": info.match_threshold,
        "size": info.size,
        "created_at": rfc3339(info.created_at),
        **dataclasses.asdict(info.policy),
        "embedding_profile_sha256": info.embedding_profile_sha256 or None,
    }


def duration(text: str) -> float:
    """Parse ``<number><unit>`` with unit s, m, h, d, w or y (an argparse ``type``)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdwy])\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30d, 12h or 90s")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive duration")
    return seconds


def _purposes(text: str) -> tuple[str, ...]:
    purposes = tuple(p.strip() for p in text.split(",") if p.strip())
    if not purposes:
        raise argparse.ArgumentTypeError("expected at least one purpose")
    return purposes


def _create(args: argparse.Namespace) -> int:
    spec = CollectionSpec(
        name=args.name,
        mode=ProtectionMode(args.mode),
        dim=args.dim,
        allow_identification=args.allow_identification,
        purposes=args.purposes,
        policy=CollectionPolicy.of(
            **{f.name: getattr(args, f.name) for f in dataclasses.fields(CollectionPolicy)}
        ),
        embedding_profile=read_profile(args.profile) if args.profile else b"",
    )
    if args.threshold is not None:
        spec = dataclasses.replace(spec, match_threshold=args.threshold)
    with connect(args) as client:
        info = client.create_collection(spec)
    _report(args, info, verb="created")
    return 0


def _get(args: argparse.Namespace) -> int:
    with connect(args) as client:
        info = client.get_collection(args.name)
    _report(args, info, verb="collection")
    return 0


def _report(args: argparse.Namespace, info: CollectionInfo, *, verb: str) -> None:
    if args.json:
        write_json(args.json, collection_json(info))
    if args.json != "-":
        identification = "on" if info.allow_identification else "off"
        print(
            f"{verb} {info.name}: mode={info.mode.value} dim={info.dim} size={info.size} "
            f"threshold={info.match_threshold:g} identification={identification}"
        )
