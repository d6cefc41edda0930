"""Rebuild the real face-embedding sets the protection figures are measured on.

Run: ``.venv/bin/python -m benchmarks.real_embeddings --set facenet-lfw --out ~/.cache/biovault``
then ``biovault evaluate --embeddings OUT/facenet-lfw-X.npy --labels OUT/facenet-lfw-y.npy``.

Neither set is in this repository: their sources carry no licence that allows
redistribution, so this script rebuilds them from the sources into a cache directory.
Each source is a public GitHub repository, read from a local bare clone
(``--git-dir``; the default is where this project's tooling mirrors it) at a pinned
commit, so the rebuilt arrays are the same every time.

* ``facenet-lfw`` - 1,435 LFW images of 754 people run through FaceNet (Inception-
  ResNet-v1 as packaged by ``keras-facenet``, 512-d, whole 250x250 image resized to
  160x160, no face crop), as published in ``manarb881/final-PROJECT-ML``
  (``models/lfw_embeddings.npy`` and ``models/lfw_labels.npy``, commit 7667589). The
  repository holds the embeddings only; we use them as published.
* ``dlib-orl`` - the 400 photographs of the ORL (AT&T) face database, 40 people x 10,
  92x112 grey, from ``surabhiiyer/CreepyTeddy-`` (``att_faces/``, commit e5b653f),
  run here through dlib's ResNet face recogniser (128-d, the model shipped in the
  ``face-recognition-models`` wheel; dlib from the ``dlib-bin`` wheel): HOG face
  detection on the 2x upsampled image (the whole image when none is found), 5-point
  landmarks, the model's aligned 150x150 chip. Credit: Olivetti Research Laboratory.
  Needs ``pip install -e '.[realdata]'`` (dlib-bin, face-recognition-models, pillow).

Labels are written as integers (subjects numbered in order of first appearance).
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np

MIRROR = Path("/work/.mirror")
FACENET_REPO = "manarb881/final-PROJECT-ML"
FACENET_COMMIT = "76675892b84f68c19bbca37cc021af31143ef241"
ORL_REPO = "surabhiiyer/CreepyTeddy-"
ORL_COMMIT = "e5b653ff4a3290b1d57c83a180ec04059f1df105"


def _git_dir(repo: str, given: Path | None) -> Path:
    if given is not None:
        return given
    base = MIRROR / repo.replace("/", "+") / "repo"
    return base / ".git" if (base / ".git").is_dir() else base


def _show(git_dir: Path, commit: str, path: str) -> bytes:
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"],
        check=True,
        capture_output=True,
    ).stdout


def _list(git_dir: Path, commit: str, folder: str) -> list[str]:
    out = subprocess.run(
        ["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", commit, folder],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line for line in out.splitlines() if line]


def _integer_labels(names: list[str]) -> np.ndarray:
    order: dict[str, int] = {}
    return np.array([order.setdefault(name, len(order)) for name in names], dtype=np.int64)


def facenet_lfw(git_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """The published FaceNet embeddings of LFW images, unit rows and integer labels."""
    where = _git_dir(FACENET_REPO, git_dir)
    x = np.load(io.BytesIO(_show(where, FACENET_COMMIT, "models/lfw_embeddings.npy")))
    names = np.load(io.BytesIO(_show(where, FACENET_COMMIT, "models/lfw_labels.npy")))
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True), _integer_labels([str(n) for n in names])


def _dlib_models() -> tuple[Callable[..., object], object, object]:
    import dlib

    # The package's __init__ needs pkg_resources; its data files are all we need.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the dlib-orl set needs: pip install -e '.[realdata]'")
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    detector = dlib.get_frontal_face_detector()
    landmarks = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
    recogniser = dlib.face_recognition_model_v1(
        str(models / "dlib_face_recognition_resnet_model_v1.dat")
    )
    return detector, landmarks, recogniser


def dlib_orl(git_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """dlib ResNet embeddings of the ORL photographs, unit rows and integer labels."""
    import dlib
    from PIL import Image

    where = _git_dir(ORL_REPO, git_dir)
    detector, landmarks, recogniser = _dlib_models()
    files = sorted(
        (p for p in _list(where, ORL_COMMIT, "att_faces") if p.endswith(".pgm")),
        key=lambda p: (int(p.split("/")[-2][1:]), int(p.split("/")[-1][:-4])),
    )
    rows, names, undetected = [], [], 0
    for path in files:
        grey = Image.open(io.BytesIO(_show(where, ORL_COMMIT, path)))
        image = np.ascontiguousarray(np.asarray(grey.convert("RGB")))
        found = detector(image, 2)  # type: ignore[operator]
        if len(found):
            box = max(found, key=lambda r: r.area())
        else:
            undetected += 1
            box = dlib.rectangle(0, 0, image.shape[1] - 1, image.shape[0] - 1)
        shape = landmarks(image, box)  # type: ignore[operator]
        rows.append(np.array(recogniser.compute_face_descriptor(image, shape)))  # type: ignore[attr-defined]
        names.append(path.split("/")[-2])
    print(f"dlib-orl: {len(files)} images, {undetected} without a detected face (whole image)")
    x = np.stack(rows)
    return x / np.linalg.norm(x, axis=1, keepdims=True), _integer_labels(names)


SETS = {"facenet-lfw": facenet_lfw, "dlib-orl": dlib_orl}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", required=True, choices=sorted(SETS))
    parser.add_argument("--out", type=Path, required=True, help="cache directory")
    parser.add_argument("--git-dir", type=Path, help="bare clone of the source repository")
    args = parser.parse_args()
    x, y = SETS[args.set](args.git_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    np.save(args.out / f"{args.set}-X.npy", x.astype(np.float32))
    np.save(args.out / f"{args.set}-y.npy", y)
    _, counts = np.unique(y, return_counts=True)
    print(
        f"{args.set}: {len(x)} x {x.shape[1]}, {len(counts)} subjects "
        f"({np.count_nonzero(counts > 1)} with 2+), written to {args.out}"
    )


if __name__ == "__main__":
    main()
