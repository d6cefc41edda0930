"""Write an LFW-shaped synthetic evaluation set for ``biovault evaluate``.

Run: ``.venv/bin/python -m benchmarks.lfw_shaped --templates 13233 --out /tmp/lfw``
then ``biovault evaluate --embeddings /tmp/lfw-X.npy --labels /tmp/lfw-y.npy ...``.

The balanced 300 x 5 sets of ``cancelable_study`` hide what real face sets do to an
evaluation: in LFW most people have one image and a few have hundreds (13,233
images of 5,749 people; 530 of one person). This set keeps the per-sample
statistics of the ArcFace-like proxy (anisotropic identity centres, log-normal
per-sample noise; see ``benchmarks/cancelable_study.py``) and draws the images per
person from a Zipf law (exponent 2.2, capped at 500), which gives a similar shape:
at 13,233 templates, 4,743 people, 3,146 with one image, the largest with 459.

It is still synthetic. It exists to exercise what skewed label counts change -
pair-weighted statistics dominated by one subject, memory and time at LFW size -
not to stand in for real embeddings' accuracy.

``--offset A`` moves every embedding by A along one random direction before
normalising. Face models are not exactly centred, and a population mean away from
zero lets one vector, made without any template, match many people (the
``inversion_template_free`` key of ``biovault evaluate``). A = 0.23 gives impostor
cosines a mean of about 0.05.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.cancelable_study import proxy_people, unit

ZIPF_EXPONENT = 2.2
MAX_IMAGES = 500


def lfw_shaped(templates: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(templates, D) float32 unit embeddings and their integer labels."""
    counts: list[int] = []
    total = 0
    while total < templates:
        counts.append(min(int(rng.zipf(ZIPF_EXPONENT)), MAX_IMAGES))
        total += counts[-1]
    counts[-1] -= total - templates
    rows, labels = proxy_people(np.array([c for c in counts if c > 0]), rng)
    return rows.astype(np.float32), labels


def offset(rows: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Unit rows moved by ``amount`` along one random unit direction."""
    direction = unit(rng.standard_normal((1, rows.shape[1])))
    return unit(rows + amount * direction).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=int, default=13233)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--offset", type=float, default=0.0, help="shift along one direction")
    parser.add_argument("--out", default="lfw-shaped", help="prefix of <out>-X.npy, <out>-y.npy")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows, labels = lfw_shaped(args.templates, rng)
    if args.offset:
        rows = offset(rows, args.offset, rng)
    np.save(Path(f"{args.out}-X.npy"), rows)
    np.save(Path(f"{args.out}-y.npy"), labels)
    _, counts = np.unique(labels, return_counts=True)
    print(
        f"{len(rows)} templates, {len(counts)} people, {int((counts == 1).sum())} with one "
        f"image, largest {int(counts.max())}: {args.out}-X.npy, {args.out}-y.npy"
    )


if __name__ == "__main__":
    main()
