"""``biovault profile fit``: the public embedding profile a cancelable collection
whitens with (see :mod:`vault.schemes.profile` for why it exists).

Fit it on embeddings from the same face model as the collection's templates -
public data, or data whose subjects agreed to this use: the profile is stored in
clear with the collection. Then pass it to ``collection create --profile``.
"""

from __future__ import annotations

import argparse

from vault.cli.common import CommandError, Commands, load_templates
from vault.schemes.profile import EmbeddingProfile
from vault.schemes.validation import validate_templates

__all__ = ["read_profile", "register"]


def register(commands: Commands) -> None:
    """Add the ``profile`` command group."""
    group = commands.add_parser(
        "profile", help="fit the embedding profile that cancelable collections whiten with"
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    fit = actions.add_parser(
        "fit",
        help="fit a profile on embeddings of the face model (public or consented data)",
        description=__doc__,
    )
    fit.add_argument("--embeddings", required=True, metavar="X.npy", help="(n, dim), n >= 2 dim")
    fit.add_argument("--out", required=True, metavar="PROFILE.npz")
    fit.set_defaults(handler=_fit)


def _fit(args: argparse.Namespace) -> int:
    embeddings = load_templates(args.embeddings)
    units = validate_templates(embeddings, embeddings.shape[1], what="embeddings")
    profile = EmbeddingProfile.fit(units)
    try:
        with open(args.out, "xb") as out:
            out.write(profile.to_bytes())
    except FileExistsError:
        raise CommandError(f"{args.out} exists; refusing to overwrite it") from None
    print(
        f"profile of {profile.samples} embeddings at dimension {profile.dim} "
        f"(Ledoit-Wolf shrinkage {profile.shrinkage:.3f}) written to {args.out}"
    )
    return 0


def read_profile(path: str) -> bytes:
    """The bytes of a profile file, checked to parse (CommandError if not)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror or error}") from None
    EmbeddingProfile.from_bytes(data)  # InvalidArgument names what is wrong
    return data
