"""Which cancelable transform? A measurement, not a default (issue 5, part A).

Run: ``.venv/bin/python benchmarks/cancelable_study.py`` (about 5 minutes on 2 cores).

Two data sets, 300 identities x 5 samples, d = 512:

* ``brief``: the brief's synthetic generator (centres uniform on the sphere,
  samples normalize(c + 0.7 n)). Unprotected EER is 0 there, so it cannot rank
  schemes by accuracy - it only shows what breaks.
* ``proxy``: a harder stand-in for real ArcFace-type embeddings, built to resemble
  their *statistics* (not tuned to any scheme): anisotropic identity centres
  (power-law spectrum, impostor cosine sd ~0.07 instead of 0.044) and
  per-sample noise levels that vary (log-normal), which gives a long low tail of
  genuine scores and an unprotected EER of ~0.5-0.7 %, like LFW ArcFace (0.44 %).

Candidates (stolen-key scenario: every template under one key):

* GRP-256: keyed orthonormal projection 512 -> 256 (linear).
* BioHash-256: sign of a keyed orthonormal projection (Teoh et al.).
* IoM-GRP m=512, q=16: index of max of q Gaussian projections, m times (Jin et al. 2018).
* PowerSpec: |FFT|^2 of a keyed rotation (shift-invariant, second order, 257 values).
* Orbit (the chosen one): keyed Haar rotation Q, then a uniformly random element of
  the signed dihedral group (cyclic shift, reflection, sign; K = 4d = 2048) drawn per
  enrolment and discarded; matched by the max correlation over the group (FFT).

Attacks (attacker holds the key and the protected template):

* linear / least-squares estimator (GRP: pseudo-inverse; BioHash: P^T b;
  IoM: sum of the winning projection vectors, centred) - first-order leakage;
* orbit averaging: the attacker recovers the orbit exactly and submits the
  normalised mean of n orbit elements (best n); expected success n/K * P(hit);
* inversion succeeds when the unprotected system accepts the result at FAR 1e-3
  against the original.

D_sys: Gomez-Barrero et al. 2018, 100 bins, omega = 1; mated = same subject,
different samples, two keys; non-mated = different subjects, two keys.
"""

from __future__ import annotations

import time

import numpy as np

D = 512
IDS, PER = 300, 5


def unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def brief_set(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    c = unit(rng.standard_normal((IDS, D)))
    x = unit(np.repeat(c, PER, 0) + 0.7 * rng.standard_normal((IDS * PER, D)) / np.sqrt(D))
    return x, np.repeat(np.arange(IDS), PER)


def proxy_people(
    per_person: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """ArcFace-like proxy embeddings, ``per_person[k]`` of person k: anisotropic
    identity centres (power-law spectrum over a random basis) and per-sample noise
    whose level varies log-normally. Returns (unit rows, labels)."""
    lam = np.arange(1, D + 1) ** -0.6
    scale = np.sqrt(lam / lam.sum() * D)
    rot = np.linalg.qr(rng.standard_normal((D, D)))[0]
    c = unit((rng.standard_normal((len(per_person), D)) * scale) @ rot.T)
    labels = np.repeat(np.arange(len(per_person)), per_person)
    spread = 0.7 * np.exp(0.55 * rng.standard_normal(len(labels)))
    noise = (rng.standard_normal((len(labels), D)) * scale / np.sqrt(D)) @ rot.T
    return unit(c[labels] + spread[:, None] * noise), labels


def proxy_set(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return proxy_people(np.full(IDS, PER), rng)


def split(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(len(labels), 1)
    same = labels[i] == labels[j]
    s = scores[i, j]
    return s[same], s[~same]


def eer(gen: np.ndarray, imp: np.ndarray) -> float:
    thr = np.sort(np.concatenate([gen, imp]))
    frr = np.searchsorted(np.sort(gen), thr, side="left") / len(gen)
    far = 1 - np.searchsorted(np.sort(imp), thr, side="left") / len(imp)
    k = np.argmin(np.abs(frr - far))
    return float((frr[k] + far[k]) / 2)


def tar(gen: np.ndarray, imp: np.ndarray, far: float) -> float:
    return float(np.mean(gen > np.quantile(imp, 1 - far)))


def dsys(mated: np.ndarray, nonmated: np.ndarray, bins: int = 100) -> float:
    edges = np.linspace(
        min(mated.min(), nonmated.min()), max(mated.max(), nonmated.max()), bins + 1
    )
    pm, _ = np.histogram(mated, edges)
    pn, _ = np.histogram(nonmated, edges)
    pm, pn = pm / pm.sum(), pn / pn.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.where(pn > 0, pm / pn, np.inf)
    local = np.where(lr > 1, np.where(np.isinf(lr), 1.0, 2 * lr / (1 + lr) - 1), 0.0)
    return float(np.sum(pm * local))


def haar(n: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


# --- linear-output candidates: protect() -> rows whose dot products are the scores ---
class Grp:
    def __init__(self, rng: np.random.Generator, out: int = 256) -> None:
        self.p = haar(D, rng)[:out]

    def protect(self, x: np.ndarray) -> np.ndarray:
        return unit(x @ self.p.T)

    def invert(self, t: np.ndarray) -> np.ndarray:
        return t @ self.p


class BioHash(Grp):
    def protect(self, x: np.ndarray) -> np.ndarray:
        return np.sign(x @ self.p.T) / np.sqrt(len(self.p))


class Iom:
    def __init__(self, rng: np.random.Generator, m: int = 512, q: int = 16) -> None:
        self.w, self.m, self.q = rng.standard_normal((m, q, D)), m, q

    def protect(self, x: np.ndarray) -> np.ndarray:
        codes = np.argmax(np.einsum("mqd,nd->nmq", self.w, x), axis=2)
        out = np.zeros((len(x), self.m * self.q))
        out[np.arange(len(x))[:, None], np.arange(self.m) * self.q + codes] = 1 / np.sqrt(self.m)
        return out

    def invert(self, t: np.ndarray) -> np.ndarray:
        codes = t.reshape(len(t), self.m, self.q).argmax(2)
        centred = self.w - self.w.mean(1, keepdims=True)
        return np.stack([centred[np.arange(self.m), c].sum(0) for c in codes])


class PowerSpec:
    def __init__(self, rng: np.random.Generator) -> None:
        self.q = haar(D, rng)

    def protect(self, x: np.ndarray) -> np.ndarray:
        p = np.abs(np.fft.rfft(x @ self.q.T, axis=1)) ** 2
        return unit(p - p.mean(1, keepdims=True))


# --- the orbit scheme ---
def orbit_scores(a: np.ndarray, b: np.ndarray, chunk: int = 16) -> np.ndarray:
    """max over shift, reflection and sign of the correlation of rows of a and b."""
    fa, fb = np.fft.rfft(a, axis=1), np.fft.rfft(b, axis=1)
    out = np.empty((len(a), len(b)))
    for i in range(0, len(a), chunk):
        c = np.fft.irfft(fa[i : i + chunk, None] * np.conj(fb)[None], n=D, axis=2)
        r = np.fft.irfft(fa[i : i + chunk, None] * fb[None], n=D, axis=2)
        out[i : i + chunk] = np.maximum(np.abs(c).max(2), np.abs(r).max(2))
    return out


def group_element(u: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    v = u[::-1] if rng.integers(2) else u
    return rng.choice([-1.0, 1.0]) * np.roll(v, rng.integers(D))


def orbit_attack(u: np.ndarray, tau: float, rng: np.random.Generator) -> tuple[float, int]:
    """Best expected success of 'submit the mean of n orbit elements' over n."""
    best = (0.0, 1)
    for n in (1, 2, 4, 8, 16, 32, 54, 64, 96):
        hits = 0
        for row in u:
            members = [row] + [group_element(row, rng) for _ in range(n - 1)]
            mean = np.sum(members, 0)
            norm = np.linalg.norm(mean)
            hits += norm > 0 and mean @ row / norm >= tau
        rate = n / (4 * D) * hits / len(u)
        best = max(best, (rate, n))
    return best


def main() -> None:
    rng = np.random.default_rng(5)
    for name, (x, y) in {"brief": brief_set(rng), "proxy": proxy_set(rng)}.items():
        g0, i0 = split(x @ x.T, y)
        tau = float(np.quantile(i0, 1 - 1e-3))
        print(f"== {name}: unprotected EER {eer(g0, i0):.4f}, FAR 1e-3 threshold {tau:.3f}")
        same = y[:, None] == y[None, :]
        off = ~np.eye(len(y), dtype=bool)
        for label, make in (
            ("GRP-256", Grp),
            ("BioHash-256", BioHash),
            ("IoM-GRP 512x16", Iom),
            ("PowerSpec", PowerSpec),
        ):
            t0 = time.time()
            k1, k2 = make(np.random.default_rng(11)), make(np.random.default_rng(12))
            t1, t2 = k1.protect(x), k2.protect(x)
            g, i = split(t1 @ t1.T, y)
            cross = t1 @ t2.T
            link = dsys(cross[same & off], cross[~same])
            inv = "-"
            if hasattr(k1, "invert"):
                guess = unit(k1.invert(t1))
                inv = f"{np.mean(np.sum(guess * x, 1) >= tau):.3f}"
            print(
                f"{label:15s} EER {eer(g, i):.4f}  TAR@1e-3 {tar(g, i, 1e-3):.4f}  "
                f"D_sys {link:.3f}  inversion {inv}  ({time.time() - t0:.0f}s)"
            )
        t0 = time.time()
        q1, q2 = haar(D, np.random.default_rng(11)), haar(D, np.random.default_rng(12))
        salt = np.random.default_rng(13)
        u1, u2 = x @ q1.T, x @ q2.T
        stored = np.stack([group_element(row, salt) for row in u1])
        s = orbit_scores(stored, u1)
        g, i = split((s + s.T) / 2, y)
        cross = orbit_scores(stored, u2)
        link = dsys(cross[same & off], cross[~same])
        rate, n = orbit_attack(u1, tau, np.random.default_rng(3))
        print(
            f"{'Orbit K=2048':15s} EER {eer(g, i):.4f}  TAR@1e-3 {tar(g, i, 1e-3):.4f}  "
            f"D_sys {link:.3f}  inversion {rate:.3f} (orbit mean of n={n})  "
            f"({time.time() - t0:.0f}s)"
        )


if __name__ == "__main__":
    main()
