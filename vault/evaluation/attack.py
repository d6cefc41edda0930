"""White-box inversion attacks: the attacker holds every key and one protected template.

Success means the unprotected system accepts the attacker's vector against the
original template: cosine >= tau, the plaintext threshold at FAR 1e-3 of the same
run. ``inversion_success_rate`` is the best attack's share of templates inverted.

* Cancelable (salted keyed rotation): the attacker undoes Q and so knows the orbit
  G(Qx) exactly, but not which member is Qx.
  - ``orbit_mean``: submit Q^T of the normalised mean of n random orbit members
    (a mean of n near-orthogonal members has cosine ~1/sqrt(n) with each, so it
    covers up to 1/tau^2 members at once); every n in :data:`ORBIT_MEAN_SIZES` is
    tried and the best reported, which favours the attacker.
  - ``surrogate_ascent``: gradient ascent, from a random start, on a smooth
    surrogate of the protected score (a log-sum-exp over all alignments instead of
    the max); it converges to some orbit member.
  - ``nearest_faces``: the same with a non-parametric model: the member whose
    nearest embeddings in the attacker's face set are closest.
  - ``discriminator`` (:mod:`vault.evaluation.discriminator`): a classifier trained
    on the attacker's own faces to tell a real face from its other orbit members
    picks the candidate it finds most real.
  - ``population_prior``: the attacker also holds a Gaussian model of the face
    model's embeddings (fitted on other people's) and submits the orbit member
    the model finds most likely, mapped back to template space. On anisotropic
    embeddings (real ones are) the true member stands out - this is the attack
    the embedding profile's whitening defends against. Run on a sample of
    templates: it scores all K members of each.
* Hybrid (keyed projection P, then CKKS - with the HE secret key the attacker
  decrypts t = normalize(P x)):
  - ``least_squares``: the minimum-norm preimage P^T t (the optimum of the smooth
    surrogate ||P y - t||^2).

Beside them, :func:`template_free_rate` measures what needs no key and no template
at all: one vector, the mean direction of other people's embeddings, submitted
against every victim. It inverts nothing, so it is not part of
``inversion_success_rate``; it is the floor that every mode (and the unprotected
system) inherits from the face model at this threshold. On embeddings whose
population mean is far from zero it can exceed the template attacks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from vault.schemes.orbit import apply_group

__all__ = [
    "ORBIT_MEAN_SIZES",
    "GaussianModel",
    "least_squares_attack",
    "orbit_mean_attack",
    "orbit_selection_attacks",
    "surrogate_ascent",
    "template_free_rate",
]

#: Sizes of the orbit-member means the attacker tries.
ORBIT_MEAN_SIZES = (1, 4, 16, 32, 64, 96)
Progress = Callable[[int, int], None]
#: Maps whitened unit rows back to unit templates (EmbeddingProfile.inverse).
TemplateMap = Callable[[np.ndarray], np.ndarray]
#: Scores orbit-space candidates (and the same mapped to template space); higher
#: is more face-like.
Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-300)


def _back(rows: np.ndarray, rotation: np.ndarray, to_template: TemplateMap | None) -> np.ndarray:
    """Protected-domain rows -> unit template-space guesses: Q^T, then un-whitening."""
    pre = _unit(_unit(rows) @ rotation)  # a projection's P^T t is shorter than t
    return pre if to_template is None else to_template(pre)


def _random_members(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    count, dim = rows.shape
    shifts = np.asarray(rng.integers(0, dim, count))
    reverse = rng.integers(0, 2, count).astype(bool)
    signs = rng.choice(np.array([-1.0, 1.0]), count)
    return apply_group(rows, shifts, reverse, signs)


def orbit_mean_attack(
    stored: np.ndarray,
    rotation: np.ndarray,
    originals: np.ndarray,
    tau: float,
    *,
    rng: np.random.Generator,
    sizes: tuple[int, ...] = ORBIT_MEAN_SIZES,
    to_template: TemplateMap | None = None,
) -> dict[int, float]:
    """Success rate of the orbit-mean attack for each mean size n."""
    rates = {}
    for n in sizes:
        total = np.zeros_like(stored)
        for _ in range(n):
            total += _random_members(stored, rng)
        guesses = _back(total, rotation, to_template)
        rates[n] = float(np.mean(np.sum(guesses * originals, axis=1) >= tau))
    return rates


def surrogate_ascent(
    stored: np.ndarray,
    rotation: np.ndarray,
    originals: np.ndarray,
    tau: float,
    *,
    rng: np.random.Generator,
    steps: int = 30,
    beta: float = 40.0,
    progress: Progress | None = None,
    to_template: TemplateMap | None = None,
) -> float:
    """Success rate of gradient ascent on log-sum-exp_g beta <g s, u> over unit u."""
    count, dim = stored.shape
    spectra = np.fft.rfft(stored, axis=1)
    u = _unit(rng.standard_normal((count, dim)))
    for step in range(steps):
        fu = np.fft.rfft(u, axis=1)
        direct = np.fft.irfft(fu * np.conj(spectra), n=dim, axis=1)  # <S^t s, u> per t
        mirror = np.fft.irfft(fu * spectra, n=dim, axis=1)  # reversed members
        both = np.concatenate([direct, -direct, mirror, -mirror], axis=1)
        weights = np.exp(beta * (both - both.max(axis=1, keepdims=True)))
        weights /= weights.sum(axis=1, keepdims=True)
        w_direct = weights[:, :dim] - weights[:, dim : 2 * dim]
        w_mirror = weights[:, 2 * dim : 3 * dim] - weights[:, 3 * dim :]
        # Gradient = sum of members weighted by their softmax weights (two convolutions).
        grad = np.fft.irfft(np.fft.rfft(w_direct, axis=1) * spectra, n=dim, axis=1)
        grad += np.fft.irfft(np.fft.rfft(w_mirror, axis=1) * np.conj(spectra), n=dim, axis=1)
        u = _unit(u + grad)
        if progress is not None:
            progress(step + 1, steps)
    guesses = _back(u, rotation, to_template)
    return float(np.mean(np.sum(guesses * originals, axis=1) >= tau))


def least_squares_attack(
    projected: np.ndarray,
    projection: np.ndarray,
    originals: np.ndarray,
    tau: float,
    *,
    to_template: TemplateMap | None = None,
) -> float:
    """Success rate of the minimum-norm preimage P^T t of projected unit rows t."""
    guesses = _back(projected, projection, to_template)
    return float(np.mean(np.sum(guesses * originals, axis=1) >= tau))


@dataclass(frozen=True)
class GaussianModel:
    """Mean and inverse covariance of unit embeddings (a small ridge keeps it finite)."""

    mean: np.ndarray
    precision: np.ndarray

    @classmethod
    def fit(cls, units: np.ndarray, ridge: float = 1e-3) -> GaussianModel:
        if len(units) < 2:  # no spread to estimate: an uninformed, isotropic model
            return cls(np.zeros(units.shape[1]), np.eye(units.shape[1]))
        covariance = np.cov(units.T) + ridge * np.eye(units.shape[1])
        return cls(units.mean(axis=0), np.linalg.inv(covariance))

    def surprise(self, rows: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each row: lower is more face-like."""
        centred = rows - self.mean
        return np.sum((centred @ self.precision) * centred, axis=1)


def _orbit(row: np.ndarray) -> np.ndarray:
    """All K = 4d members of one stored row's orbit (shifts x reversal x sign)."""
    dim = row.shape[0]
    index = (np.arange(dim)[None, :] - np.arange(dim)[:, None]) % dim
    shifted = np.concatenate([row[index], row[::-1][index]])
    return np.concatenate([shifted, -shifted])


def orbit_selection_attacks(
    stored: np.ndarray,
    rotation: np.ndarray,
    originals: np.ndarray,
    tau: float,
    *,
    model: GaussianModel,
    public: np.ndarray,
    to_template: TemplateMap | None = None,
    neighbours: int = 5,
    scorers: Mapping[str, Scorer] | None = None,
    progress: Progress | None = None,
) -> dict[str, float]:
    """Success rates of submitting the orbit member a population model finds most likely.

    ``population_prior`` ranks the K candidates by Mahalanobis distance under
    ``model``, fitted in the space the orbit acts on (whitened unit embeddings if the
    collection has a profile). ``nearest_faces`` is its non-parametric counterpart,
    for structure a Gaussian misses (clusters, curved manifolds): each candidate,
    mapped back to template space, scores the mean cosine of its ``neighbours``
    nearest rows of ``public`` (unit embeddings of other people). Both rank the same
    candidates, which are built and mapped back once per stored row.

    Args:
        stored: Protected rows under attack.
        rotation: The keyed rotation Q (the attacker holds it).
        originals: The unit templates they protect.
        tau: Acceptance threshold of the unprotected system.
        model: The attacker's Gaussian population model.
        public: The attacker's face set, unit template-space rows.
        to_template: Maps the orbit's space back to unit templates (None: it is
            template space).
        neighbours: How many nearest faces score a candidate.
        scorers: Further attacks by name: each scores the candidates, in orbit and in
            template space (higher is more face-like), and submits its best, e.g. the
            trained classifier of
            :mod:`vault.evaluation.discriminator`.
    """
    extra = dict(scorers or {})
    public32 = public.astype(np.float32)
    k = max(1, min(neighbours, len(public)))
    hits = dict.fromkeys(["population_prior", "nearest_faces", *extra], 0)
    for index, row in enumerate(stored):
        candidates = _orbit(row) @ rotation
        faces = candidates if to_template is None else to_template(candidates)
        similarity = faces.astype(np.float32) @ public32.T
        nearest = np.partition(similarity, similarity.shape[1] - k, axis=1)[:, -k:]
        picks = {
            "population_prior": int(np.argmin(model.surprise(candidates))),
            "nearest_faces": int(np.argmax(nearest.mean(axis=1))),
            **{name: int(np.argmax(score(candidates, faces))) for name, score in extra.items()},
        }
        for name, pick in picks.items():
            hits[name] += float(faces[pick] @ originals[index]) >= tau
        if progress is not None:
            progress(index + 1, len(stored))
    return {name: count / len(stored) for name, count in hits.items()}


def template_free_rate(units: np.ndarray, halves: list[np.ndarray], tau: float) -> float:
    """Share of templates accepted against one guess made without key or template.

    The victims in each half face the normalised mean of the other half's unit
    embeddings - the attacker's face set, as in the keyed attacks. A mean near zero
    (isotropic embeddings) gives no direction and no success.
    """
    hits = 0
    for half in halves:
        direction = units[~half].sum(axis=0)  # zero for an empty or balanced face set
        norm = float(np.linalg.norm(direction))
        if norm > 0.0:
            hits += int(np.count_nonzero(units[half] @ (direction / norm) >= tau))
    return hits / len(units)
