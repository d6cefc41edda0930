"""``biovault profile fit``: the public embedding profile a cancelable collection whitens with.

See :mod:`vault.schemes.profile` for why it exists.
"""

from __future__ import annotations

import argparse

from vault.cli.common import CommandError, Commands, load_templates
from vault.schemes.profile import EmbeddingProfile
from vault.schemes.validation import validate_templates

__all__ = ["read_profile", "register"]

_FIT_DESCRIPTION = (
    "Fit the public embedding profile that cancelable and hybrid collections whiten "
    "with, on embeddings from the same face model as the collection's templates: public "
    "data, or data whose subjects agreed to this use, since the profile is stored in "
    "clear with the collection. Then pass it to `collection create --profile`."
)


def register(commands: Commands) -> None:
    """Add the ``profile`` command group."""
    group = commands.add_parser(
        "profile",
        help="fit the embedding profile that cancelable collections whiten with",
        description="Embedding profiles: the public statistics of a face model that "
        "cancelable and hybrid collections whiten templates with.",
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    fit = actions.add_parser(
        "fit",
        help="fit a profile on embeddings of the face model (public or consented data)",
        description=_FIT_DESCRIPTION,
    )
    fit.add_argument("--embeddings", required=True, metavar="X.npy", help="(n, dim), n >= 2 dim")
    fit.add_argument(
        "--out", required=True, metavar="PROFILE.npz", help="new file to write (never overwritten)"
    )
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
