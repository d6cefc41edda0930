"""Worker processes for TenSEAL calls (its bindings hold the GIL, so threads don't help).

Workers are forked from the process that already holds the key set, so they
inherit it in memory: no key bytes ever cross a pipe, a file or a pickle. Only
coefficient rows go in and ciphertext residues come out.
Fork must happen before the process starts other threads (gRPC), which is why the
pool is created at start-up, right after the key set is unwrapped.
"""

from __future__ import annotations

import ctypes
import itertools
import multiprocessing
import os
import signal
import sys
from multiprocessing.pool import Pool
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from vault.he.keyset import CkksKeySet

__all__ = ["HeWorkers"]

_INHERITED: CkksKeySet | None = None


_PR_SET_PDEATHSIG = 1


def _init_worker() -> None:
    """Workers die with the parent and leave signal handling to it."""
    # The parent may have installed SIGTERM/SIGINT handlers before forking; in a
    # worker they would swallow Pool.terminate() and Ctrl-C would hit mid-task.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _encrypt(values: np.ndarray, scale: float) -> np.ndarray:
    assert _INHERITED is not None
    return _INHERITED.encrypt_coefficients_here(values, scale)


class HeWorkers:
    """A fork-based pool whose workers share the parent's CKKS key set."""

    def __init__(self, keyset: CkksKeySet, processes: int) -> None:
        global _INHERITED
        _INHERITED = keyset
        self.processes = processes
        self._pool: Pool | None = multiprocessing.get_context("fork").Pool(
            processes, initializer=_init_worker
        )
        self._owner = os.getpid()

    def _split(self, rows: int) -> list[slice]:
        parts = min(self.processes, rows)
        bounds = np.linspace(0, rows, parts + 1).astype(int)
        return [slice(a, b) for a, b in itertools.pairwise(bounds)]

    def encrypt(self, values: np.ndarray, scale: float) -> np.ndarray:
        assert self._pool is not None
        parts = self._pool.starmap(_encrypt, [(values[s], scale) for s in self._split(len(values))])
        return np.concatenate(parts)

    def close(self) -> None:
        if self._pool is not None and os.getpid() == self._owner:
            self._pool.terminate()
            self._pool.join()
        self._pool = None
