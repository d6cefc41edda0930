"""The secret key's polynomial, and the encryptions and decryptions that need it.

Held only by :class:`vault.he.keyset.CkksKeySet` (never returned, never pickled).
Two ciphertext forms, both in coefficient (not NTT) form modulo the data prime p:

* **pair** - SEAL's symmetric CKKS: ct = (c0, c1) = (-a*s + e + m, a), a uniform,
  one fresh a per ciphertext. Decrypts as c0 + c1*s. Blocks written before the
  shared form existed are pairs (SEAL encrypted them; we read them in this form).
* **shared** - one block of ``dim`` coordinate ciphertexts shares one uniform a,
  each coordinate j under its own ternary secret s_j:
  c0_j = -a*s_j + e_j + m_j. Publishing many RLWE samples that share a but use
  independent secrets is as hard as RLWE (a hybrid argument over j replaces one
  b_j = a*s_j + e_j at a time by uniform, simulating the others with fresh secrets),
  so this is the same security as one a per ciphertext, with half the residues:
  the block stores dim + 1 polynomials instead of 2 * dim. A score
  sum_j q_j ct_j then needs only the c0 columns: it decrypts as
  C0 + a * (sum_j q_j s_j), one product per block and probe.

The s_j are derived from s with SHAKE-256 (a PRF keyed by the secret), so the key
set's serialised form is unchanged and still holds one SEAL secret key.
"""

from __future__ import annotations

import hashlib

import numpy as np

from vault.errors import IntegrityError
from vault.he.ring import (
    NegacyclicFFT,
    reduce_centred,
    sample_rounded_gaussian,
    sample_ternary_from_stream,
    sample_uniform_mod,
)
from vault.he.stages import STAGES

__all__ = ["SecretPolynomial"]

_DERIVE = b"biovault/ckks/coordinate-secret/v1"
#: Blocks decrypted per step of :meth:`SecretPolynomial.decrypt_shared`.
_DECRYPT_BLOCKS = 4


class SecretPolynomial:
    """The ternary secret s (coefficients) and the per-coordinate secrets s_j."""

    __slots__ = ("_coordinates", "_s_spectrum", "_secret", "degree", "fft", "prime")

    def __init__(self, coefficients: np.ndarray, prime: int) -> None:
        if not np.isin(coefficients, (-1, 0, 1)).all():
            raise IntegrityError("the CKKS secret key is not ternary")
        self.degree = len(coefficients)
        self.prime = prime
        self.fft = NegacyclicFFT(self.degree)
        self._secret = coefficients.astype(np.int8)
        self._s_spectrum = self.fft.forward(self._secret.astype(np.float64)[None, :])
        self._coordinates: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __reduce__(self) -> str:
        raise TypeError("secret key material cannot be pickled")

    def __repr__(self) -> str:
        return "SecretPolynomial(<hidden>)"

    # --- per-coordinate secrets ---------------------------------------------
    def _coordinate_secrets(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(dim, N) float64 secrets s_j and their (dim, N/2) spectra, cached per dim."""
        cached = self._coordinates.get(dim)
        if cached is None:
            key = self._secret.tobytes()
            rows = np.empty((dim, self.degree), dtype=np.float32)
            for j in range(dim):
                length = 2 * self.degree
                while True:
                    stream = hashlib.shake_256(_DERIVE + j.to_bytes(4, "little") + key).digest(
                        length
                    )
                    values = sample_ternary_from_stream(stream, self.degree)
                    if values is not None:
                        break
                    length *= 2
                rows[j] = values
            cached = (rows, self.fft.forward(rows.astype(np.float64)))
            self._coordinates[dim] = cached
        return cached

    # --- encryption -----------------------------------------------------------
    def _plain(self, values: np.ndarray, scale: float) -> np.ndarray:
        return np.rint(np.asarray(values, dtype=np.float64) * scale)

    def encrypt_pairs(self, values: np.ndarray, scale: float) -> np.ndarray:
        """(k, N) message coefficients -> (k, 2, N) uint64 pair-form ciphertexts."""
        k = len(values)
        p = self.prime
        a = sample_uniform_mod(p, k * self.degree).reshape(k, self.degree)
        a_s = self.fft.exact_ternary_products(a, self._s_spectrum, p)
        # Everything below is an integer under 2^53, so float64 arithmetic is exact.
        c0 = sample_rounded_gaussian((k, self.degree))
        c0 += self._plain(values, scale)
        c0 -= a_s
        out = np.empty((k, 2, self.degree), dtype=np.uint64)
        out[:, 0] = np.mod(c0, float(p))
        out[:, 1] = a
        return out

    def encrypt_shared(self, values: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """(dim, N) coordinates of a block -> ((dim, N) uint64 c0, (N,) uint64 a)."""
        a = sample_uniform_mod(self.prime, self.degree)
        return self.encrypt_shared_rows(values, scale, a, first=0, dim=len(values)), a

    def encrypt_shared_rows(
        self, values: np.ndarray, scale: float, a: np.ndarray, *, first: int, dim: int
    ) -> np.ndarray:
        """Coordinates ``first`` .. ``first + k - 1`` of a ``dim``-coordinate block under
        the block's shared ``a`` -> (k, N) uint64 c0 (how workers split one block)."""
        p = self.prime
        _, spectra = self._coordinate_secrets(dim)
        rows = spectra[first : first + len(values)]
        a_s = self.fft.exact_ternary_products(np.asarray(a)[None, :], rows, p)
        c0 = sample_rounded_gaussian((len(values), self.degree))
        c0 += self._plain(values, scale)
        c0 -= a_s
        return np.mod(c0, float(p), out=c0).astype(np.uint64)

    # --- decryption -----------------------------------------------------------
    def decrypt_pairs(self, c0: np.ndarray, c1: np.ndarray, scale: float) -> np.ndarray:
        """Messages of pair ciphertexts given as float64 integer residues (..., N).

        ``c0`` may be an unreduced exact product (|v| < 2^53); ``c1`` is reduced
        here (in place) so that its product with s stays accurate.
        """
        with STAGES.timing("reduction"):
            reduce_centred(c1, self.prime)
        with STAGES.timing("decryption"):
            message = self.fft.inverse(self.fft.forward(c1) * self._s_spectrum)
            message += c0
        return self._finish(message, scale)

    def _finish(self, message: np.ndarray, scale: float) -> np.ndarray:
        with STAGES.timing("reduction"):
            reduce_centred(message, self.prime)
        with STAGES.timing("decode"):
            # Coefficient packing: the message coefficients *are* the scores.
            message *= 1.0 / scale
        return message

    def probe_secrets(self, probes: np.ndarray, dim: int) -> np.ndarray:
        """Spectra of sum_j q_j s_j for integer probes (P, dim): (P, N/2)."""
        rows, _ = self._coordinate_secrets(dim)
        # Exact in float32 (half the bytes to stream): every partial sum is an
        # integer of magnitude <= ||q||_1 < 2^18 < 2^24.
        sums = probes.astype(np.float32) @ rows
        return self.fft.forward(sums.astype(np.float64))

    def decrypt_shared(
        self,
        c0: np.ndarray,
        a_spectra: np.ndarray,
        probe_secrets: np.ndarray,
        scale: float,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Messages of shared-form score ciphertexts.

        Args:
            c0: (P, B, N) exact products sum_j q_j c0_j (unreduced).
            a_spectra: (B, N/2) spectra of each block's centred a.
            probe_secrets: (P, N/2) from :meth:`probe_secrets`.
            scale: Delta * 2^s.
            out: Where to write the (P, B, N) messages (may be a view into a larger array).
        """
        if out is None:
            out = np.empty(c0.shape)
        # A few blocks at a time, every step while they are still in cache: on the
        # whole (P, B, N) array each step streamed it from memory again (measured at
        # 32 probes x 245 blocks: 21 -> 9.5 ms per probe).
        for first in range(0, c0.shape[1], _DECRYPT_BLOCKS):
            span = slice(first, first + _DECRYPT_BLOCKS)
            with STAGES.timing("decryption"):
                message = self.fft.inverse(
                    probe_secrets[:, None, :] * a_spectra[None, span, :], out[:, span]
                )
                message += c0[:, span]
            self._finish(message, scale)
        return out
