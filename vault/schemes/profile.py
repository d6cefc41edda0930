"""Embedding profile: public statistics of a face model's embeddings, used to whiten
templates before the cancelable transform.

Why it exists. The salted keyed rotation hides *which* of its K = 4d orbit members
is the template - but only if the members are equally plausible. Real embeddings
are anisotropic (a few directions carry most of the variance, and the mean is not
zero), so a key holder who also has a population model (any public face set run
through the same face model) can rank the K candidates by likelihood, and the true
one stands out: `biovault evaluate` measures 53 % inversion on an anisotropic
proxy with a plain Gaussian model fitted on other people. Whitening first
(``c = unit(W (x - mu))``, W the inverse square root of the covariance) makes the
population isotropic in the space the orbit acts on, so every candidate looks
alike to a second-order model.
Cosine after whitening is also a good matcher in its own right (it discounts the
directions every face shares).

Limit, measured on real face embeddings (docs/protection.md, "Real face
embeddings"): whitening does not make the orbit members alike there. Real
embeddings occupy only ~50 directions (99 % of the variance: 48 of 512 for a
FaceNet set, 62 of 128 for dlib), which no linear map can spread over the whole
space, and a key holder with other people's faces still inverts 29-43 % of them.

The covariance uses Ledoit-Wolf shrinkage towards a multiple of the identity
(Ledoit & Wolf 2004, "A well-conditioned estimator for large-dimensional
covariance matrices"): its shrinkage intensity is computed from the data, so
nothing here is tuned. A profile is fitted on at least :data:`MIN_SAMPLES_PER_DIM`
x d embeddings, so that the sample covariance has full rank - with fewer it would
describe the individual templates it came from rather than the population. Fit it
on public data or data whose subjects agreed to this use: it is stored in clear.

A profile is public: it is stored in clear with its collection and is assumed
known to attackers (the evaluation gives it to them).
"""

from __future__ import annotations

import functools
import hashlib
import io
import zipfile
from dataclasses import dataclass

import numpy as np

from vault.errors import InvalidArgument

__all__ = ["MIN_SAMPLES_PER_DIM", "EmbeddingProfile"]

#: Embeddings needed per dimension to fit a profile.
MIN_SAMPLES_PER_DIM = 2
_FORMAT = "biovault embedding profile v1"
_MAX_BYTES = 64 * 1024 * 1024
_MEMBERS = frozenset(
    f"{name}.npy" for name in ("format", "mean", "whitening", "samples", "shrinkage")
)


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-300)


@dataclass(frozen=True, eq=False)
class EmbeddingProfile:
    """Mean and whitening matrix of a face model's unit embeddings.

    Attributes:
        mean: (d,) mean of the unit embeddings it was fitted on.
        whitening: (d, d) symmetric inverse square root of the shrunk covariance.
        samples: How many embeddings it was fitted on.
        shrinkage: Ledoit-Wolf shrinkage intensity in [0, 1].
    """

    mean: np.ndarray
    whitening: np.ndarray
    samples: int
    shrinkage: float

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    @classmethod
    def fit(cls, units: np.ndarray, *, minimum: int | None = None) -> EmbeddingProfile:
        """Fit on unit-norm embeddings (n, d).

        Args:
            units: The embeddings.
            minimum: Fewest embeddings accepted; default MIN_SAMPLES_PER_DIM * d.
                In-memory uses that store nothing (the evaluation) may go lower:
                the shrinkage then grows towards the identity by itself.

        Raises:
            InvalidArgument: Too few embeddings.
        """
        count, dim = units.shape
        needed = max(2, MIN_SAMPLES_PER_DIM * dim if minimum is None else minimum)
        if count < needed:
            raise InvalidArgument(
                f"an embedding profile needs at least {needed} embeddings at dimension {dim}; "
                f"got {count}"
            )
        mean = units.mean(axis=0)
        centred = units - mean
        sample = centred.T @ centred / count
        target = np.trace(sample) / dim
        spread = float(np.sum((sample - target * np.eye(dim)) ** 2))
        # Average squared distance of each rank-one term x x^T from the sample
        # covariance, from the identity sum_k ||x_k x_k^T - S||^2 = sum ||x_k||^4 - n ||S||^2.
        noise = float(np.sum(np.sum(centred**2, axis=1) ** 2) - count * np.sum(sample**2))
        noise /= count**2
        shrinkage = 1.0 if spread <= 0 else min(1.0, max(0.0, noise / spread))
        covariance = shrinkage * target * np.eye(dim) + (1 - shrinkage) * sample
        values, vectors = np.linalg.eigh(covariance)
        whitening = (vectors / np.sqrt(values)) @ vectors.T
        return cls(mean, (whitening + whitening.T) / 2, count, shrinkage)

    def apply(self, units: np.ndarray) -> np.ndarray:
        """Whitened unit rows ``unit(W (x - mean))`` - what the keyed rotation sees."""
        return _unit((units - self.mean) @ self.whitening)

    def inverse(self, whitened: np.ndarray) -> np.ndarray:
        """The unit template x with ``apply(x) == c`` for each unit row c.

        x = mean + r W^-1 c for the r > 0 that puts x on the unit sphere (a quadratic
        in r with one positive root, since |mean| < 1).
        """
        direction = np.linalg.solve(self.whitening, whitened.T).T
        a = np.sum(direction**2, axis=1)
        b = direction @ self.mean
        c = float(self.mean @ self.mean) - 1.0
        r = (-b + np.sqrt(b**2 - a * c)) / a
        return _unit(self.mean + r[:, None] * direction)

    def to_bytes(self) -> bytes:
        """A self-describing .npz (no pickles) for storage and the wire."""
        out = io.BytesIO()
        np.savez(
            out,
            format=np.array(_FORMAT),
            mean=self.mean,
            whitening=self.whitening,
            samples=np.array(self.samples),
            shrinkage=np.array(self.shrinkage),
        )
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, *, dim: int | None = None) -> EmbeddingProfile:
        """Parse and check a profile (``dim``: the collection's dimension).

        Raises:
            InvalidArgument: Not a profile, damaged, or for another dimension.
        """
        if len(data) > _MAX_BYTES:
            raise InvalidArgument("embedding profile is too large")
        try:
            # What np.load would inflate, checked first: a small compressed archive
            # must not expand into gigabytes.
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = archive.infolist()
            if sum(m.file_size for m in members) > _MAX_BYTES:
                raise InvalidArgument("embedding profile is too large")
            if {m.filename for m in members} != _MEMBERS:
                raise InvalidArgument("not a biovault embedding profile")
            with np.load(io.BytesIO(data), allow_pickle=False) as stored:
                if str(stored["format"]) != _FORMAT:
                    raise InvalidArgument("not a biovault embedding profile")
                mean = np.asarray(stored["mean"], dtype=np.float64)
                whitening = np.asarray(stored["whitening"], dtype=np.float64)
                samples, shrinkage = int(stored["samples"]), float(stored["shrinkage"])
        except InvalidArgument:
            raise
        except Exception as error:  # numpy raises many kinds for damaged archives
            raise InvalidArgument(
                f"unreadable embedding profile ({type(error).__name__})"
            ) from None
        d = mean.shape[0] if mean.ndim == 1 else -1
        if d < 1 or whitening.shape != (d, d):
            raise InvalidArgument("embedding profile has inconsistent shapes")
        if dim is not None and d != dim:
            raise InvalidArgument(f"embedding profile is for dimension {d}, not {dim}")
        if not (np.isfinite(mean).all() and np.isfinite(whitening).all()):
            raise InvalidArgument("embedding profile holds non-finite values")
        if float(mean @ mean) >= 1.0 or not np.allclose(whitening, whitening.T, atol=1e-9):
            raise InvalidArgument("embedding profile is not one of unit embeddings")
        if np.linalg.eigvalsh(whitening).min() <= 0:
            raise InvalidArgument("embedding profile's whitening matrix is not positive definite")
        return cls(mean, whitening, samples, shrinkage)

    @functools.cached_property
    def _digest(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def digest(self) -> str:
        """SHA-256 of the serialised profile (names it in audit entries and answers)."""
        return self._digest
