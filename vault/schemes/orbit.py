"""The cancelable transform: keyed rotation, then a random signed-dihedral salt.

Protecting a unit template x under collection key Q (a keyed Haar rotation)::

    u      = Q x
    stored = s * R^r * S^t u        t uniform in [0, d), r, s uniform in {0, 1}, {+1, -1}

S is the cyclic shift, R the reversal, s a sign: together the signed dihedral group
G of order K = 4d (2048 at d = 512). (t, r, s) comes from ``os.urandom`` at
enrolment and is never stored, so the stored vector is a uniformly random member of
the orbit G(Qx). Matching a probe p takes the best alignment over the whole group::

    score(stored, p) = max over g in G of <g stored, Q p> = max_g <x, Q^T g Q p>

which is computed for all shifts at once with FFTs (cross-correlation theorem; a
reversal is a conjugated spectrum), and is the exact cosine <x, p> when the probe
is genuine - the identity alignment wins.

Why this and not IoM / BioHashing / a random projection: an attacker who holds Q
sees only the orbit, and every orbit member is equally likely to be x - provided
the templates are isotropic, which is what the embedding profile's whitening is
for (vault.schemes.profile: real embeddings are not, and a population model
would otherwise single the true member out). Any one
guess is accepted by an unprotected system (cosine >= tau) for at most about
1/tau^2 orbit members at once, so a single guess succeeds with probability about
1/(K tau^2) - below 3 % at K = 2048, tau = 0.136. Schemes whose scores are sums of
many weak per-feature similarities leak a first-order estimate of x to the key
holder (the sum of IoM's winning projection vectors has cosine ~0.88 with x);
see docs/protection.md. The price is FAR: an impostor gets K chances to align.
"""

from __future__ import annotations

import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["GROUP_FACTOR", "apply_group", "max_correlation", "random_salt", "spectra"]

#: K = GROUP_FACTOR * dim: shift (d) x reversal (2) x sign (2).
GROUP_FACTOR = 4
# Rows of the gallery per FFT batch: bounds the temporary (rows x dim) arrays.
_CHUNK = 2048
# Below this many rows a second thread costs more than it saves.
_PARALLEL_MIN_ROWS = 256
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _threads() -> ThreadPoolExecutor:
    """One pool per process, made on first use. numpy's FFTs release the GIL, so
    batches of gallery rows run on every core (measured 1.76x on 2 cores)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="biovault-fft")
        return _pool


def _forget_threads_in_child() -> None:
    # A forked child (the HE worker processes) has none of the parent's threads: a
    # pool or lock copied from the parent would wait forever. Start afresh.
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_threads_in_child)


def random_salt(count: int, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fresh uniformly random group elements (shifts, reversals, signs) from the OS CSPRNG."""
    shifts = np.array([secrets.randbelow(dim) for _ in range(count)], dtype=np.int64)
    flags = np.frombuffer(secrets.token_bytes(count), dtype=np.uint8)
    reverse = (flags & 1).astype(bool)
    signs = np.where(flags & 2, -1.0, 1.0)
    return shifts, reverse, signs


def apply_group(
    rows: np.ndarray, shifts: np.ndarray, reverse: np.ndarray, signs: np.ndarray
) -> np.ndarray:
    """Apply one group element per row: reverse (optionally), cyclic shift, sign."""
    dim = rows.shape[1]
    values = np.where(reverse[:, None], rows[:, ::-1], rows)
    index = (np.arange(dim)[None, :] - shifts[:, None]) % dim
    return signs[:, None] * np.take_along_axis(values, index, axis=1)


def spectra(rows: np.ndarray) -> np.ndarray:
    """Real FFTs of the rows (what the gallery keeps in memory for matching)."""
    return np.fft.rfft(np.asarray(rows, dtype=np.float64), axis=1).astype(np.complex64)


def max_correlation(probe_spectra: np.ndarray, gallery_spectra: np.ndarray, dim: int) -> np.ndarray:
    """(P, N) scores: for each probe and stored row, max |correlation| over every
    shift, reversal and sign.

    Args:
        probe_spectra: (P, dim//2 + 1) spectra of keyed-rotated unit probes.
        gallery_spectra: (N, dim//2 + 1) spectra of stored rows.
        dim: The template dimension (the FFT length).
    """
    # Single precision FFTs (numpy >= 2): 1.7x faster, scores within ~2e-5 of float64.
    probes = np.asarray(probe_spectra, dtype=np.complex64)
    out = np.empty((len(probes), len(gallery_spectra)))

    def fill(first: int, last: int) -> None:
        block = np.asarray(gallery_spectra[first:last], dtype=np.complex64)
        conj = np.conj(block)
        for p, spectrum in enumerate(probes):
            direct = np.fft.irfft(spectrum[None, :] * conj, n=dim, axis=1)
            # A reversed row's spectrum is the conjugate (up to a shift, which the max covers).
            reversed_ = np.fft.irfft(spectrum[None, :] * block, n=dim, axis=1)
            out[p, first:last] = np.maximum(
                np.abs(direct).max(axis=1), np.abs(reversed_).max(axis=1)
            )

    rows = len(gallery_spectra)
    workers = os.cpu_count() or 1
    if rows < 2 * _PARALLEL_MIN_ROWS or workers == 1:
        for first in range(0, rows, _CHUNK):
            fill(first, min(first + _CHUNK, rows))
        return out
    step = min(_CHUNK, max(_PARALLEL_MIN_ROWS, -(-rows // workers)))
    spans = [(first, min(first + step, rows)) for first in range(0, rows, step)]
    # Each span writes its own columns of ``out``; list() re-raises a worker's error.
    list(_threads().map(lambda span: fill(*span), spans))
    return out
