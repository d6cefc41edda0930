"""Worker processes for TenSEAL calls (its bindings hold the GIL, so threads don't help).

Design rule: workers are forked from a process that already holds the key set, so
they inherit it in memory and no key bytes ever cross a pipe, a file or a pickle.
Only coefficient rows go in and ciphertext residues come out.

Replacing a dead worker needs a new fork, and forking the running service is not
safe: its RPC threads run SEAL (decryption) and gRPC, and may hold a lock (SEAL's
memory pool, the allocator, gRPC's internals) that the child would then wait on
forever. So at start-up, before any thread of the service's own exists (only the
idle pools of TenSEAL and OpenBLAS, which hold no lock while idle and which the
workers never use), we fork one *host* process (:mod:`vault.he._workerhost`). It
keeps a ``ProcessPoolExecutor`` of forked workers and replaces a broken pool from
its one thread, after joining the broken executor's threads. Alternatives
considered: ``forkserver``/``spawn`` start fresh interpreters, so the key set
would have to be sent to them; forking replacements from the service risks the
deadlock above. The price of the host is one more pipe hop per job (rows in,
ciphertexts out): 1.05-1.16x the former ``multiprocessing.Pool``'s time for 512
ciphertexts, measured side by side (docs/operations.md).

States seen by the service: READY; DEGRADED while the host replaces a broken
pool (calls fail at once with :class:`~vault.errors.EncryptionUnavailable`);
LOST if the host itself died (calls then encrypt in the service process, and
health stays NOT_SERVING until a restart forks a new host).
"""

from __future__ import annotations

import contextlib
import enum
import gc
import itertools
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Final

import numpy as np

from vault.errors import EncryptionUnavailable, VaultError
from vault.he._workerhost import LocalEncryptor, run_host, set_inherited_keyset

__all__ = ["HeWorkers", "PoolState"]

_log = logging.getLogger(__name__)
_START_SECONDS: Final = 120.0
_STOP_SECONDS: Final = 10.0


class PoolState(enum.Enum):
    """What the worker pool can do right now."""

    READY = "ready"
    DEGRADED = "degraded"
    LOST = "lost"
    CLOSED = "closed"


class HeWorkers:
    """Encryption spread over forked workers that share the parent's CKKS key set.

    Args:
        keyset: The key set the workers inherit.
        processes: Number of worker processes.

    Raises:
        EncryptionUnavailable: The workers did not start.
    """

    def __init__(self, keyset: LocalEncryptor, processes: int) -> None:
        set_inherited_keyset(keyset)
        self.processes = processes
        self._owner = os.getpid()
        self._lock = threading.Lock()  # state, pending jobs, listeners
        self._send_lock = threading.Lock()  # one writer on the pipe at a time
        self._pending: dict[int, Future[np.ndarray]] = {}
        self._jobs = itertools.count()
        self._listeners: list[Callable[[], None]] = []
        self._worker_pids: tuple[int, ...] = ()
        self._keyset = keyset  # for in-process encryption once the host is lost
        self._state = PoolState.DEGRADED
        ours, theirs = multiprocessing.Pipe(duplex=True)
        # Everything the host inherits is frozen out of its garbage collector: a
        # TenSEAL context destroyed there would join pool threads that were not
        # forked with it (a segfault, seen in tests). Garbage is collected here.
        gc.collect()
        gc.freeze()
        pid = os.fork()
        if pid == 0:  # the host; never returns into the service's code
            status = 1
            try:
                ours.close()
                status = run_host(theirs, processes, owner=self._owner)
            finally:
                os._exit(status)
        gc.unfreeze()
        theirs.close()
        self._host_pid: int | None = pid
        self._conn = ours
        try:
            if not ours.poll(_START_SECONDS):
                raise EOFError
            self._apply(ours.recv())
        except (EOFError, OSError):
            self._stop_host()
            ours.close()
            raise EncryptionUnavailable("the encryption workers did not start") from None
        # Started after the fork above: the host must be forked single-threaded.
        self._reader = threading.Thread(target=self._read, name="biovault-he-pool", daemon=True)
        self._reader.start()

    @property
    def state(self) -> PoolState:
        """The pool's current state."""
        return self._state

    @property
    def host_pid(self) -> int | None:
        """Pid of the host process that forks the workers (None once it is gone)."""
        return self._host_pid

    @property
    def worker_pids(self) -> tuple[int, ...]:
        """Pids of the current workers, as last reported by the host."""
        return self._worker_pids

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the pool's reader thread) after every state change."""
        with self._lock:
            self._listeners.append(callback)

    def encrypt(
        self, values: np.ndarray, scale: float, *, a: np.ndarray | None = None
    ) -> np.ndarray:
        """Encrypt coefficient rows on the workers.

        Without ``a``: pair-form rows (see ``CkksKeySet.encrypt_coefficients_here``).
        With ``a``: the coordinates of one shared-form block under that ``a`` (see
        ``CkksKeySet.encrypt_block_rows_here``), split over the workers.

        Raises:
            EncryptionUnavailable: A worker died during the call, or the pool is
                being replaced; retrying shortly succeeds once it is READY.
        """
        future: Future[np.ndarray] = Future()
        if self._state is PoolState.LOST:
            if a is None:
                return self._keyset.encrypt_coefficients_here(values, scale)
            return self._keyset.encrypt_block_rows_here(values, scale, a, first=0, dim=len(values))
        with self._lock:
            if self._state is not PoolState.READY:
                raise EncryptionUnavailable(
                    f"the encryption worker pool is {self._state.value}; retry shortly"
                )
            job = next(self._jobs)
            self._pending[job] = future
        try:
            with self._send_lock:
                self._conn.send(("encrypt", job, values, float(scale), a))
        except (OSError, ValueError) as error:
            self._host_lost()
            raise EncryptionUnavailable("the encryption worker pool is gone") from error
        return future.result()

    def close(self) -> None:
        """Stop the host and its workers (bounded; SIGKILL if they linger)."""
        if os.getpid() != self._owner:
            return
        with self._lock:
            if self._state is PoolState.CLOSED:
                return
            self._state = PoolState.CLOSED
        try:
            with self._send_lock:
                self._conn.send(("stop",))
        except (OSError, ValueError):
            pass
        self._stop_host()
        self._fail_pending("the encryption worker pool is shutting down")
        self._conn.close()

    # --- internals ------------------------------------------------------------
    def _apply(self, message: tuple[Any, ...]) -> bool:
        """Act on one message from the host; True if the pool state changed."""
        kind = message[0]
        if kind in ("done", "failed"):
            with self._lock:
                future = self._pending.pop(message[1], None)
            if future is not None:
                if kind == "done":
                    future.set_result(message[2])
                elif message[3]:  # retryable: the pool lost a worker
                    future.set_exception(EncryptionUnavailable(message[2]))
                else:  # a fault in the encryption itself: retrying cannot help
                    future.set_exception(VaultError(message[2]))
            return False
        with self._lock:
            if self._state is PoolState.CLOSED:
                return False
            if kind == "ready":
                self._worker_pids = tuple(message[1])
                changed = self._state is not PoolState.READY
                self._state = PoolState.READY
                _log.info("encryption workers ready (%d processes)", len(self._worker_pids))
                return changed
            if kind == "degraded":
                self._state = PoolState.DEGRADED
                _log.error("encryption pool degraded: %s", message[1])
                return True
        return False

    def _read(self) -> None:
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                if self._state is not PoolState.CLOSED:
                    self._host_lost()
                return
            if self._apply(message):
                self._notify()

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for callback in listeners:
            try:
                callback()
            except Exception:  # a listener must not stop the pool's reader
                _log.exception("encryption pool listener failed")

    def _host_lost(self) -> None:
        with self._lock:
            if self._state in (PoolState.LOST, PoolState.CLOSED):
                return
            self._state = PoolState.LOST
        _log.error(
            "the encryption worker host exited; encrypting in the service process "
            "from now on (restart the service to restore the worker pool)"
        )
        self._stop_host()
        self._fail_pending("the encryption worker pool is gone")
        self._notify()

    def _fail_pending(self, reason: str) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(EncryptionUnavailable(reason))

    def _stop_host(self) -> None:
        deadline = time.monotonic() + _STOP_SECONDS
        while self._host_pid is not None and time.monotonic() < deadline:
            if self._reap_host(block=False):
                return
            time.sleep(0.02)
        if self._host_pid is not None:
            _log.warning("encryption worker host did not stop; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._host_pid, signal.SIGKILL)
            self._reap_host(block=True)

    def _reap_host(self, *, block: bool) -> bool:
        """Collect the host's exit status (no zombie); True once it is gone."""
        pid = self._host_pid
        if pid is None:
            return True
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            self._host_pid = None
        return bool(done)
