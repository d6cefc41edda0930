"""Which map before the keyed rotation holds on real embeddings? A measurement (issue 17).

Run: ``.venv/bin/python -m benchmarks.defence_study --set DIR/facenet-lfw --out R.json``
(``DIR/NAME-X.npy`` and ``-y.npy`` as written by ``benchmarks.real_embeddings``;
a few minutes per set on 2 cores).

The salted keyed rotation hides a template among the K = 4k members of its orbit
only if the members look alike to an attacker who holds the key, the public map and
other people's faces. Each family below is a public map ``x -> c`` (unit, k-dim)
fitted on the other half of the subjects, as in ``biovault evaluate``:

* ``lw`` - the shipped profile: Ledoit-Wolf whitening in all d dimensions.
* ``lw@f`` - the same with f times the Ledoit-Wolf shrinkage intensity (f < 1:
  nearer the sample covariance, so the public set is nearer isotropic).
* ``fill@t[:s]`` - ``lw``, then the directions where the whitened public set holds
  less than t/d of variance get fresh noise of variance s/d (default s = 1).
* ``pca`` - the top k principal directions of the public set, fully whitened
  (k well below the public set's size, so every kept eigenvalue is estimated):
  dimension reduction to the directions the face model uses.
* ``pca_quantile`` - ``pca``, then each whitened coordinate through its public
  empirical CDF to a standard normal quantile: equalises the marginals beyond
  second order (a one-layer Gaussianisation).

For each, the orbit scheme runs at dimension k on every pair (EER against the
plain-cosine baseline of the same run), D_sys between two keys, and the full-
disclosure attacks on a sample of victims: ``population_prior``, ``nearest_faces``
and ``discriminator`` (vault.evaluation), each candidate mapped back to template
space and accepted at the plaintext FAR 1e-3 threshold.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vault.evaluation import attack
from vault.evaluation.discriminator import train_discriminator
from vault.evaluation.dsys import cross_key_unlinkability
from vault.evaluation.harness import products
from vault.evaluation.metrics import Comparisons
from vault.schemes.orbit import apply_group, max_correlation, spectra
from vault.schemes.profile import EmbeddingProfile

Map = Callable[[np.ndarray], np.ndarray]
VICTIMS = 100


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-300)


@dataclass(frozen=True)
class PublicMap:
    """x -> c (unit, k-dim) and a map of candidates c back to unit templates."""

    forward: Map
    backward: Map


def lw_map(public: np.ndarray, _k: int) -> PublicMap:
    profile = EmbeddingProfile.fit(public, minimum=2)
    return PublicMap(profile.apply, profile.inverse)


def shrunk_map(public: np.ndarray, factor: float) -> PublicMap:
    """Whitening with ``factor`` times the Ledoit-Wolf shrinkage intensity: closer to
    the sample covariance, so the public set is nearer isotropic after it."""
    fitted = EmbeddingProfile.fit(public, minimum=2)
    mean = public.mean(axis=0)
    sample = np.cov((public - mean).T, bias=True)
    target = np.trace(sample) / len(sample)
    amount = fitted.shrinkage * factor
    values, vectors = np.linalg.eigh(amount * target * np.eye(len(sample)) + (1 - amount) * sample)
    whitening = (vectors / np.sqrt(np.maximum(values, 1e-12))) @ vectors.T
    profile = EmbeddingProfile(mean, (whitening + whitening.T) / 2, len(public), amount)
    return PublicMap(profile.apply, profile.inverse)


def _pca(public: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    mean = public.mean(axis=0)
    _, s, vt = np.linalg.svd(public - mean, full_matrices=False)
    scale = s[:k] / np.sqrt(len(public))
    basis = vt[:k]
    norm = float(np.median(np.linalg.norm(((public - mean) @ basis.T) / scale, axis=1)))
    return mean, basis, scale, norm


def pca_map(public: np.ndarray, k: int) -> PublicMap:
    mean, basis, scale, norm = _pca(public, k)

    def forward(x: np.ndarray) -> np.ndarray:
        return unit(((x - mean) @ basis.T) / scale)

    def backward(c: np.ndarray) -> np.ndarray:
        return unit(mean + (norm * c * scale) @ basis)

    return PublicMap(forward, backward)


def pca_quantile_map(public: np.ndarray, k: int) -> PublicMap:
    from scipy.special import ndtr, ndtri

    mean, basis, scale, norm = _pca(public, k)
    z = ((public - mean) @ basis.T) / scale
    grid = np.sort(z, axis=0)
    levels = (np.arange(1, len(z) + 1) - 0.5) / len(z)
    gauss = ndtri(levels)

    def forward(x: np.ndarray) -> np.ndarray:
        w = ((x - mean) @ basis.T) / scale
        out = np.empty_like(w)
        for j in range(w.shape[1]):  # piecewise-linear CDF, Gaussian tails beyond
            out[:, j] = np.interp(w[:, j], grid[:, j], gauss, left=np.nan, right=np.nan)
            low, high = w[:, j] < grid[0, j], w[:, j] > grid[-1, j]
            out[low, j] = ndtri(ndtr(w[low, j]) * levels[0] / ndtr(grid[0, j]))
            out[high, j] = -ndtri(ndtr(-w[high, j]) * levels[0] / ndtr(-grid[-1, j]))
        return unit(out)

    def backward(c: np.ndarray) -> np.ndarray:
        g = c * np.sqrt(c.shape[1])  # unit rows back to roughly standard coordinates
        w = np.empty_like(g)
        for j in range(g.shape[1]):
            w[:, j] = np.interp(g[:, j], gauss, grid[:, j])
        return unit(mean + (w * scale * norm / np.sqrt(c.shape[1])) @ basis)

    return PublicMap(forward, backward)


def lda_map(public: np.ndarray, k: int, labels: np.ndarray) -> PublicMap:
    """The k most discriminant directions of the (labelled) public set - largest
    between- to within-subject variance, the within-subject covariance shrunk by
    Ledoit-Wolf - with the total covariance fully whitened inside them."""
    mean = public.mean(axis=0)
    centred = public - mean
    _, subject = np.unique(labels, return_inverse=True)
    sums = np.zeros((subject.max() + 1, public.shape[1]))
    np.add.at(sums, subject, centred)
    counts = np.bincount(subject)[:, None]
    within = centred - (sums / counts)[subject]
    within_profile = EmbeddingProfile.fit(within[(counts[subject, 0] > 1)], minimum=2)
    sphered = centred @ within_profile.whitening  # within-subject scatter ~ I
    _, _, vt = np.linalg.svd(sphered, full_matrices=False)
    directions = within_profile.whitening @ vt[:k].T  # (d, k)
    projected = centred @ directions
    scale = projected.std(axis=0)
    norm = float(np.median(np.linalg.norm(projected / scale, axis=1)))
    back = np.linalg.pinv(directions)  # (k, d)

    def forward(x: np.ndarray) -> np.ndarray:
        return unit(((x - mean) @ directions) / scale)

    def backward(c: np.ndarray) -> np.ndarray:
        return unit(mean + (norm * c * scale) @ back)

    return PublicMap(forward, backward)


FAMILIES: dict[str, Callable[..., PublicMap]] = {
    "lw": lw_map,
    "pca": pca_map,
    "pca_quantile": pca_quantile_map,
    "lda": lda_map,
}


def _centred(inner: PublicMap, enrolled: np.ndarray) -> PublicMap:
    """``inner``, then minus the mean of the collection's own enrolled rows (stored
    with the collection, public): victims whitened with statistics of other people
    share an offset that whitening amplifies, and a shared offset ranks orbits."""
    offset = enrolled.mean(axis=0)
    length = float(np.median(np.linalg.norm(enrolled - offset, axis=1)))

    def forward(x: np.ndarray) -> np.ndarray:
        return unit(inner.forward(x) - offset)

    def backward(c: np.ndarray) -> np.ndarray:
        return inner.backward(unit(length * c + offset))

    return PublicMap(forward, backward)


def filled_map(
    public: np.ndarray, threshold: float, rng: np.random.Generator, share: float = 1.0
) -> PublicMap:
    """``lw``, then every direction along which the whitened public set has less than
    ``threshold`` times the isotropic variance 1/d gets fresh Gaussian noise of
    variance ``share``/d instead of its coordinate (drawn anew for every row, as a
    salt is). share = 1 makes those directions look like any orbit member's.

    Why: unit embeddings with a mean far from zero have almost no variance along
    the mean (the radial direction), and shrinkage leaves it so; real faces then
    have ~0 energy there while every other orbit member has 1/d - the coordinate a
    Gaussian attacker reads. Those directions carry no identity, so noise costs
    nothing in matching."""
    profile = EmbeddingProfile.fit(public, minimum=2)
    whitened = profile.apply(public)
    dim = public.shape[1]
    values, vectors = np.linalg.eigh(np.cov(whitened.T) * dim)
    deficient = vectors[:, values < threshold]

    def forward(x: np.ndarray) -> np.ndarray:
        c = profile.apply(x)
        noise = rng.standard_normal((len(c), deficient.shape[1])) * np.sqrt(share / dim)
        return unit(c - (c @ deficient) @ deficient.T + noise @ deficient.T)

    return PublicMap(forward, profile.inverse)


def _protect(c: np.ndarray, rotation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n, k = c.shape
    return apply_group(
        c @ rotation.T,
        rng.integers(0, k, n),
        rng.integers(0, 2, n).astype(bool),
        rng.choice(np.array([-1.0, 1.0]), n),
    )


def _scores(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sa, sb = spectra(a), spectra(b)
    out = np.empty((len(a), len(b)), dtype=np.float32)
    for first in range(0, len(a), 256):
        out[first : first + 256] = max_correlation(sa[first : first + 256], sb, a.shape[1])
    return out


def run(
    x: np.ndarray, y: np.ndarray, family: str, k: int, seed: int
) -> dict[str, float | int | str]:
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    baseline = Comparisons.of_matrix(products(x, x), y)
    tau = baseline.threshold_at_far(1e-3)
    subjects = rng.permutation(np.unique(y))
    first = np.isin(y, subjects[: len(subjects) // 2])
    halves = [first, ~first]
    centre = family.endswith("+centre")
    family = family.removesuffix("+centre")
    if family == "lda":
        maps = [lda_map(x[~h], k, y[~h]) for h in halves]
    elif family.startswith("fill@"):
        threshold, _, share = family[5:].partition(":")
        maps = [filled_map(x[~h], float(threshold), rng, float(share or 1)) for h in halves]
    elif family.startswith("lw@"):
        maps = [shrunk_map(x[~h], float(family[3:])) for h in halves]
    else:
        maps = [FAMILIES[family](x[~h], k) for h in halves]
    if centre:
        maps = [_centred(m, m.forward(x[h])) for h, m in zip(halves, maps, strict=True)]
    dim = maps[0].forward(x[:1]).shape[1]
    c = np.empty((len(x), dim))
    for h, m in zip(halves, maps, strict=True):
        c[h] = m.forward(x[h])
    q_a = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    q_b = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    stored_a, stored_b = _protect(c, q_a, rng), _protect(c, q_b, rng)
    protected = Comparisons.of_matrix(_scores(stored_a, stored_a), y)
    dsys = cross_key_unlinkability(_scores(stored_a, stored_b), y).document()["dsys"]
    totals: dict[str, float] = {}
    victims = 0
    for h, m in zip(halves, maps, strict=True):
        rows = rng.choice(np.flatnonzero(h), min(VICTIMS, int(h.sum())), replace=False)
        public_c = m.forward(x[~h])
        if centre:  # the attacker centres his own faces the same way, on his own mean
            public_c = unit(public_c - public_c.mean(axis=0))
        classifier = train_discriminator(public_c, q_a, rng, to_template=m.backward)
        faces = rng.choice(np.flatnonzero(~h), min(2000, int((~h).sum())), replace=False)
        rates = attack.orbit_selection_attacks(
            stored_a[rows],
            q_a,
            x[rows],
            tau,
            model=attack.GaussianModel.fit(public_c),
            public=x[faces],
            to_template=m.backward,
            scorers={"discriminator": classifier.score},
        )
        for name, rate in rates.items():
            totals[name] = totals.get(name, 0.0) + rate * len(rows)
        victims += len(rows)
    result: dict[str, float | int | str] = {
        "family": family + ("+centre" if centre else ""),
        "k": dim,
        "plaintext_eer": baseline.eer(),
        "eer": protected.eer(),
        "dsys": float(dsys),
        **{name: total / victims for name, total in totals.items()},
    }
    result["inversion_best"] = max(float(v) for n, v in result.items() if n in totals)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", required=True, help="path prefix of NAME-X.npy / NAME-y.npy")
    parser.add_argument("--families", default="lw,pca,pca_quantile")
    parser.add_argument("--k", default="", help="comma-separated k for pca families")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    x = np.load(f"{args.set}-X.npy").astype(np.float64)
    x = unit(x)
    y = np.load(f"{args.set}-y.npy")
    ks = [int(v) for v in args.k.split(",") if v] or [x.shape[1] // 4, x.shape[1] // 2]
    results = []
    for family in args.families.split(","):
        full = family.startswith(("lw", "fill"))
        for k in [x.shape[1]] if full else ks:
            results.append(run(x, y, family, k, args.seed))
            print(json.dumps(results[-1]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
