"""``biovault evaluate``: accuracy, unlinkability and irreversibility of one mode.

Runs in-process on local files (no service, no Vault): the keyed modes use
ephemeral keys that exist only for the run. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vault.cli.common import (
    CommandError,
    Commands,
    add_json_flag,
    load_npy,
    load_templates,
    write_json,
)
from vault.cli.progress import Progress

__all__ = ["register"]

_MODES = ("plaintext", "ckks", "cancelable", "hybrid")


def register(commands: Commands) -> None:
    """Add the ``evaluate`` command."""
    parser = commands.add_parser(
        "evaluate",
        help="measure a protection mode against the unprotected baseline (ISO/IEC 30136)",
        description=(
            "All genuine and impostor pairs of the embeddings: EER and TAR at FAR 1e-3/1e-4 "
            "of the protected system and of plaintext cosine; for cancelable and hybrid also "
            "D_sys unlinkability and the success rate of white-box inversion attacks, beside "
            "that of one guess made without key or template. Memory grows with n^2: a set "
            "that does not fit is refused before any work."
        ),
    )
    parser.add_argument("--embeddings", required=True, metavar="X.npy", help="(n, dim) floats")
    parser.add_argument("--labels", required=True, metavar="y.npy", help="n identity labels")
    parser.add_argument("--mode", required=True, choices=_MODES, help="protection mode to evaluate")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the attacks' randomness (default %(default)s)"
    )
    parser.add_argument("--plot", type=Path, metavar="P.png", help="draw DET curves")
    whitening = parser.add_mutually_exclusive_group()
    whitening.add_argument(
        "--profile",
        metavar="PROFILE.npz",
        help="cancelable, hybrid: whiten with this profile (default: cross-fit one)",
    )
    whitening.add_argument(
        "--no-whitening",
        action="store_true",
        help="cancelable, hybrid: evaluate the transform without a profile",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=_evaluate)


def _load_labels(path: str, expected: int) -> np.ndarray:
    labels = load_npy(path)
    if labels.ndim != 1 and not (labels.ndim == 2 and 1 in labels.shape):
        raise CommandError(f"{path} has shape {labels.shape}; labels must be one per row")
    labels = labels.reshape(-1)
    if labels.dtype.kind not in "iuUS":
        raise CommandError(f"{path} holds {labels.dtype} values; labels must be integers or text")
    if len(labels) != expected:
        raise CommandError(f"{path} has {len(labels)} labels for {expected} embeddings")
    return labels


def _progress() -> Progress:
    return Progress("evaluate", bar_width=30, stage_width=8)


def _evaluate(args: argparse.Namespace) -> int:
    from vault.evaluation.runner import evaluate

    embeddings = load_templates(args.embeddings)
    labels = _load_labels(args.labels, len(embeddings))
    profile = None
    if args.profile:
        from vault.cli.profile import read_profile
        from vault.schemes.profile import EmbeddingProfile

        profile = EmbeddingProfile.from_bytes(read_profile(args.profile))
    result = evaluate(
        embeddings,
        labels,
        args.mode,
        seed=args.seed,
        progress=_progress(),
        profile=profile,
        whiten=not args.no_whitening,
    )
    doc = result.document
    if args.plot:
        from vault.evaluation.plot import plot_det

        plot_det(
            {
                f"{args.mode} (EER {doc['eer']:.2%})": result.protected,
                f"plaintext (EER {doc['plaintext_eer']:.2%})": result.baseline,
            },
            f"DET, {doc['templates']} templates, {doc['genuine_pairs']} genuine pairs",
            args.plot,
        )
    if args.json:
        write_json(args.json, doc)
    if args.json != "-":
        summary = (
            f"{args.mode}: EER {doc['eer']:.4%} (plaintext {doc['plaintext_eer']:.4%}), "
            f"TAR@1e-3 {doc['tar_at_far']['1e-3']:.4f}"
        )
        if "dsys" in doc:
            summary += (
                f", D_sys {doc['dsys']:.3f}, inversion {doc['inversion_success_rate']:.2%}"
                f" (template-free guess {doc['inversion_template_free']:.2%})"
            )
        print(summary)
        for name, rate in doc.get("inversion_attacks", {}).items():
            print(f"  attack {name}: {rate:.2%}")
        if "inversion_success_rate_all_keys" in doc:
            both = doc["inversion_success_rate_all_keys"]
            print(f"  both keys (the enclave's own compromise): {both:.2%}")
    return 0
