"""Map between polynomial coefficients and SEAL's CKKS slot values.

SEAL's encoder takes slot values z and builds the polynomial whose evaluations at
the primitive 2N-th roots zeta^(3^i mod 2N) are z (times the scale). We want to
choose the *coefficients* directly (coefficient packing), so we compute the slot
values of the wanted coefficients with one FFT and let SEAL do the encoding; on
the way back SEAL decodes to slot values and one FFT recovers the coefficients.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CoefficientEmbedding"]


class CoefficientEmbedding:
    """Vectorised coefficient <-> slot transforms for ring degree N."""

    def __init__(self, degree: int) -> None:
        self.degree = degree
        n = degree
        exponents = np.empty(n // 2, dtype=np.int64)
        pos = 1
        for i in range(n // 2):
            exponents[i] = pos
            pos = pos * 3 % (2 * n)
        # Evaluating at zeta^(2j+1) for all j is an FFT of x_t * zeta^t; keep the
        # index j of every slot and of its complex conjugate.
        self._slot_index = (exponents - 1) // 2
        self._conj_index = (2 * n - exponents - 1) // 2
        twist = np.exp(1j * np.pi * np.arange(n) / n)
        self._twist = twist
        # Only the real part of fft(v) * conj(twist) / N is needed.
        self._untwist_real = twist.real / n
        self._untwist_imag = twist.imag / n

    def to_slots(self, coefficients: np.ndarray) -> np.ndarray:
        """(k, N) real coefficients -> (k, N/2) complex slot values."""
        values = np.fft.ifft(coefficients * self._twist, axis=-1) * self.degree
        return values[..., self._slot_index]

    def from_slots(self, slots: np.ndarray) -> np.ndarray:
        """(k, N/2) complex slot values -> (k, N) real coefficients."""
        full = np.empty((*slots.shape[:-1], self.degree), dtype=np.complex128)
        full[..., self._slot_index] = slots
        full[..., self._conj_index] = np.conj(slots)
        spectrum = np.fft.fft(full, axis=-1)
        # Re(f * conj(w)) = Re(f) Re(w) + Im(f) Im(w), without a complex temporary.
        out = spectrum.real * self._untwist_real
        out += spectrum.imag * self._untwist_imag
        return out
