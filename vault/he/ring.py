"""Arithmetic in Z_p[X]/(X^N + 1) on numpy arrays, without a number-theoretic transform.

Ciphertexts here are in *coefficient* form, so decryption is a negacyclic
polynomial product with the (small) secret plus an addition. The product is done
with complex FFTs of length N/2 ("right-angle" folding): X^(N/2) -> i maps
R[X]/(X^N + 1) onto C[Y]/(Y^(N/2) - i), and twisting coefficient k by
w^k (w = e^(i pi / N), so w^(N/2) = i) turns that into an ordinary cyclic
convolution. Two regimes use it:

* **Exact** (encryption): one factor ternary, the other split into 18-bit limbs,
  so every true coefficient is an integer below 2^31 and float64 FFT error
  (~1e-6 here) rounds away. :func:`exact_ternary_product` checks the rounding
  margin and refuses to return a value it is not sure of.
* **Approximate** (decryption of scores): the scores live at scale 2^33, so an
  absolute error of a few thousand units in a coefficient is ~1e-6 in a score;
  the product is used unrounded and then reduced mod p once.

Randomness for encryption comes from ``os.urandom`` (the kernel CSPRNG) only.
"""

from __future__ import annotations

import math
import os

import numpy as np

from vault.errors import IntegrityError

__all__ = [
    "NegacyclicFFT",
    "reduce_centred",
    "sample_rounded_gaussian",
    "sample_ternary_from_stream",
    "sample_uniform_mod",
]

_LIMB = 18
_BATCH = 64  # rows per FFT batch: keeps temporaries near the cache size
# SEAL's defaults: sigma = 3.2, samples beyond 6 sigma are redrawn.
NOISE_SIGMA = 3.2
NOISE_BOUND = 6 * NOISE_SIGMA


class NegacyclicFFT:
    """Forward/inverse folded FFTs for products modulo X^N + 1."""

    def __init__(self, degree: int) -> None:
        self.degree = degree
        half = degree // 2
        self.half = half
        self._twist = np.exp(1j * np.pi * np.arange(half) / degree)
        self._untwist = np.conj(self._twist)

    def forward(self, values: np.ndarray) -> np.ndarray:
        """(..., N) real coefficients -> (..., N/2) complex spectrum."""
        h = self.half
        folded = values[..., :h] + 1j * values[..., h:]
        folded *= self._twist
        return np.fft.fft(folded, axis=-1)

    def inverse(self, spectrum: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(..., N/2) spectrum -> (..., N) real coefficients (written into ``out``)."""
        folded = np.fft.ifft(spectrum, axis=-1)
        folded *= self._untwist
        if out is None:
            out = np.empty((*spectrum.shape[:-1], self.degree))
        out[..., : self.half] = folded.real
        out[..., self.half :] = folded.imag
        return out

    def exact_ternary_products(
        self, uniform: np.ndarray, ternary_spectra: np.ndarray, prime: int
    ) -> np.ndarray:
        """(u_r * s_r) mod p, exactly, for residues u (1 or k, N) in [0, p) and ternary
        secrets given by their spectra (1 or k, N/2); rows broadcast.

        Returns (k, N) float64 integers in [0, p) (exact: every value is below 2^49).
        """
        mask = np.uint64((1 << _LIMB) - 1)
        limbs = np.stack([uniform & mask, uniform >> np.uint64(_LIMB)], axis=1)
        limb_spectra = self.forward(limbs.astype(np.float64))  # (ku, 2, N/2)
        rows = max(len(uniform), len(ternary_spectra))
        out = np.empty((rows, self.degree))
        for first in range(0, rows, _BATCH):
            span = slice(first, min(rows, first + _BATCH))
            u = limb_spectra[span] if len(limb_spectra) > 1 else limb_spectra
            s = ternary_spectra[span] if len(ternary_spectra) > 1 else ternary_spectra
            products = self.inverse(u * s[:, None, :])  # (b, 2, N), integers < 2^31
            rounded = np.rint(products)
            # An error near 1/2 would mean the float product cannot be trusted.
            if np.abs(products - rounded).max() > 0.25:
                raise IntegrityError("negacyclic product lost exactness")
            combined = rounded[:, 1] * float(1 << _LIMB)
            combined += rounded[:, 0]
            out[span] = np.mod(combined, float(prime))
        return out


def reduce_centred(values: np.ndarray, prime: int) -> np.ndarray:
    """In place: float64 integers (any size a float holds) -> representatives near (-p/2, p/2]."""
    quotient = values * (1.0 / prime)
    np.rint(quotient, out=quotient)
    quotient *= float(prime)
    values -= quotient
    return values


def sample_uniform_mod(prime: int, count: int) -> np.ndarray:
    """``count`` uniform residues in [0, p) from the kernel CSPRNG (rejection sampling)."""
    bits = prime.bit_length()
    mask = np.uint64((1 << bits) - 1)
    out = np.empty(count, dtype=np.uint64)
    filled = 0
    while filled < count:
        # p > 2^(bits-1), so each draw is accepted with probability > 1/2 (here ~1).
        want = count - filled
        draws = np.frombuffer(os.urandom(8 * (want + want // 16 + 8)), dtype="<u8") & mask
        draws = draws[draws < np.uint64(prime)][:want]
        out[filled : filled + len(draws)] = draws
        filled += len(draws)
    return out


def _rounded_gaussian_thresholds() -> tuple[np.ndarray, int]:
    """uint64 CDF thresholds of round(X), X ~ N(0, 3.2^2) conditioned on |X| <= 6 sigma."""
    bound = math.floor(NOISE_BOUND + 0.5)

    def cdf(x: float) -> float:
        return 0.5 * (1.0 + math.erf(x / (NOISE_SIGMA * math.sqrt(2.0))))

    lo, hi = cdf(-NOISE_BOUND), cdf(NOISE_BOUND)
    # P(round(X) <= k | |X| <= bound) for k = -bound .. bound - 1 (the last is 1).
    edges = [min(k + 0.5, NOISE_BOUND) for k in range(-bound, bound)]
    cumulative = [(cdf(e) - lo) / (hi - lo) for e in edges]
    return np.array([min(int(c * 2.0**64), 2**64 - 1) for c in cumulative], np.uint64), bound


_THRESHOLDS, _BOUND = _rounded_gaussian_thresholds()
_BUCKET_BITS = 16


def _bucket_table() -> tuple[np.ndarray, np.ndarray]:
    """Index of the sample for each top-16-bit bucket, and whether a threshold falls
    inside the bucket (then the full 64 bits decide, by binary search)."""
    shift = np.uint64(64 - _BUCKET_BITS)
    starts = np.arange(1 << _BUCKET_BITS, dtype=np.uint64) << shift
    ends = starts + ((np.uint64(1) << shift) - np.uint64(1))
    first = np.searchsorted(_THRESHOLDS, starts, side="right")
    last = np.searchsorted(_THRESHOLDS, ends, side="right")
    return first.astype(np.int8), first != last


_BUCKET_INDEX, _BUCKET_SPLIT = _bucket_table()


def sample_rounded_gaussian(shape: tuple[int, ...]) -> np.ndarray:
    """Rounded normal(0, 3.2) integers conditioned on |X| <= 6 sigma (SEAL's clipped
    normal), by inverse transform of 64-bit uniforms from the kernel CSPRNG."""
    count = int(np.prod(shape))
    uniform = np.frombuffer(os.urandom(8 * count), dtype="<u8")
    bucket = (uniform >> np.uint64(64 - _BUCKET_BITS)).astype(np.intp)
    index = _BUCKET_INDEX[bucket].astype(np.float64)
    # ~38 of 65,536 buckets hold a threshold: only their samples need the search.
    split = np.flatnonzero(_BUCKET_SPLIT[bucket])
    index[split] = np.searchsorted(_THRESHOLDS, uniform[split], side="right")
    index -= _BOUND
    return index.reshape(shape)


def sample_ternary_from_stream(stream: bytes, count: int) -> np.ndarray | None:
    """Uniform {-1, 0, 1} values from pseudorandom bytes (bytes >= 255 are skipped);
    None if the stream is too short for ``count`` values."""
    values = np.frombuffer(stream, dtype=np.uint8)
    values = values[values < 255]
    if len(values) < count:
        return None
    return (values[:count] % 3).astype(np.int8) - 1
