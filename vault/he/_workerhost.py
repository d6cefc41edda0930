"""The worker-pool host: a process forked at start-up that owns the TenSEAL workers.

The host is forked from the service while the service is still single-threaded,
so it holds the CKKS key set in inherited memory. It never runs TenSEAL, gRPC,
SQLite or HTTP itself; it only forks workers (a ``ProcessPoolExecutor`` with the
fork start method), hands them coefficient rows and returns their ciphertexts.
When a worker dies the executor fails every call it held with
``BrokenProcessPool``; the host reports that, shuts the broken executor down
(joining its threads) and forks a new one. Each such fork therefore happens in a
process with exactly one thread (the host was forked without the service's
threads, and the broken executor's are joined first), which is what makes
replacing workers safe: a fork from the multi-threaded service could copy a lock
(SEAL's memory pool, the allocator, gRPC's internals) held by another thread into
a child that then deadlocks on it.

Messages (tuples over one duplex pipe):

* service -> host: ``("encrypt", job, values, scale, a)`` (``a`` None: pair rows;
  else the coordinates of one shared-form block under that ``a``), ``("stop",)``
* host -> service: ``("ready", pids)``, ``("degraded", reason)``,
  ``("done", job, residues)``, ``("failed", job, reason, retryable)``
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np

__all__ = ["LocalEncryptor", "run_host", "set_inherited_keyset"]

_PR_SET_PDEATHSIG: Final = 1
_START_TIMEOUT: Final = 60.0
_MAX_BACKOFF: Final = 5.0
_REAP_SECONDS: Final = 5.0
#: How often an idle host checks that its workers are alive.
_LIVENESS_SECONDS: Final = 0.5


class LocalEncryptor(Protocol):
    """What a worker needs of the key set it inherits: encryption in its own process.

    :class:`~vault.he.keyset.CkksKeySet` provides it. A protocol, not an import of
    the key set, so that the key set can own its worker pool without an import cycle.
    """

    def encrypt_coefficients_here(self, values: np.ndarray, scale: float) -> np.ndarray:
        """Pair-form ciphertext rows of ``values``, computed in this process."""
        ...

    def encrypt_block_rows_here(
        self, values: np.ndarray, scale: float, a: np.ndarray, *, first: int, dim: int
    ) -> np.ndarray:
        """Coordinates ``first`` .. of a ``dim``-coordinate block under its shared ``a``."""
        ...


_INHERITED: LocalEncryptor | None = None


def set_inherited_keyset(keyset: LocalEncryptor) -> None:
    """Make ``keyset`` what the host and its workers inherit (call before forking)."""
    global _INHERITED
    _INHERITED = keyset


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: the kernel SIGKILLs us when the forking thread's process
    # goes, so neither the host nor a worker outlives the service (kill -9, OOM).
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _init_worker() -> None:
    """Workers die with the host and leave signal handling to the service."""
    # SIGTERM stays fatal: the executor terminates the rest of a broken pool with it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()


def _encrypt(
    values: np.ndarray, scale: float, a: np.ndarray | None, first: int, dim: int
) -> np.ndarray:
    assert _INHERITED is not None
    if a is None:
        return _INHERITED.encrypt_coefficients_here(values, scale)
    return _INHERITED.encrypt_block_rows_here(values, scale, a, first=first, dim=dim)


def _worker_pid() -> int:
    return os.getpid()


def split_rows(rows: int, parts: int) -> list[slice]:
    """``rows`` cut into at most ``parts`` contiguous, nearly equal slices."""
    parts = max(1, min(parts, rows))
    bounds = np.linspace(0, rows, parts + 1).astype(int)
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


class _Gather:
    """Collects the parts of one job; answers once, from whichever thread finishes it."""

    def __init__(self, host: _Host, job: int, parts: int) -> None:
        self._host, self._job = host, job
        self._results: list[np.ndarray | None] = [None] * parts
        self._left = parts
        self._answered = False
        self._lock = threading.Lock()

    def part_done(self, index: int, future: Future[np.ndarray]) -> None:
        error = future.exception() if not future.cancelled() else BrokenProcessPool("cancelled")
        with self._lock:
            if self._answered:
                return
            if error is None:
                self._results[index] = future.result()
                self._left -= 1
                if self._left:
                    return
            self._answered = True
        if error is None:
            self._host.send(("done", self._job, np.concatenate(self._results)))  # type: ignore[arg-type]
            return
        if isinstance(error, BrokenProcessPool):
            self._host.mark_broken()
            self._host.send(("failed", self._job, "an encryption worker process died", True))
        else:
            reason = f"encryption failed in a worker: {type(error).__name__}"
            self._host.send(("failed", self._job, reason, False))


class _Host:
    def __init__(self, conn: Connection, processes: int) -> None:
        self._conn = conn
        self._processes = processes
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self._broken = False
        self._executor: ProcessPoolExecutor | None = None
        self._workers: list[int] = []

    def send(self, message: tuple[Any, ...]) -> None:
        try:
            with self._send_lock:
                self._conn.send(message)
        except (OSError, ValueError):
            os._exit(0)  # the service is gone: nothing is left to answer

    def mark_broken(self) -> None:
        with self._state_lock:
            if self._broken:
                return
            self._broken = True
        self.send(("degraded", "an encryption worker process died; replacing the pool"))
        os.write(self._wake_w, b"!")

    def build(self) -> None:
        """Fork a full set of workers, retrying with backoff until they answer."""
        delay = 0.1
        while True:
            executor = ProcessPoolExecutor(
                self._processes,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_init_worker,
            )
            try:
                # With fork, the first submit starts every worker before the
                # executor's own thread exists; one answer proves they run.
                executor.submit(_worker_pid).result(timeout=_START_TIMEOUT)
            except Exception:
                executor.shutdown(wait=True, cancel_futures=True)
                time.sleep(delay)
                delay = min(2 * delay, _MAX_BACKOFF)
                continue
            with self._state_lock:
                self._executor, self._broken = executor, False
            self._workers = _children_of(os.getpid())
            self.send(("ready", self._workers))
            return

    def encrypt(self, job: int, values: np.ndarray, scale: float, a: np.ndarray | None) -> None:
        slices = split_rows(len(values), self._processes)
        # A pool found broken before any of this job ran (a worker died while idle)
        # is replaced first: the job itself lost nothing, so it need not fail.
        for attempt in range(2):
            with self._state_lock:
                executor = None if self._broken else self._executor
            try:
                if executor is None:
                    raise BrokenProcessPool("the pool is being replaced")
                futures = [
                    executor.submit(_encrypt, values[part], scale, a, part.start, len(values))
                    for part in slices
                ]
                break
            except BrokenProcessPool:
                self.mark_broken()
                if attempt:
                    self.send(("failed", job, "the encryption worker pool is being replaced", True))
                    return
                self.rebuild()
        gather = _Gather(self, job, len(slices))
        for index, future in enumerate(futures):
            future.add_done_callback(functools.partial(gather.part_done, index))

    def rebuild(self) -> None:
        with self._state_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            # Joins the executor's threads, so the next fork runs single-threaded.
            executor.shutdown(wait=True, cancel_futures=True)
        self.build()

    def serve(self) -> None:
        self.build()
        while True:
            ready = wait([self._conn, self._wake_r], timeout=_LIVENESS_SECONDS)
            if not ready and not all(_is_live_child(pid) for pid in self._workers):
                self.mark_broken()  # a worker died while idle: replace it now
            if self._wake_r in ready or self._broken:
                if self._wake_r in ready:
                    os.read(self._wake_r, 64)
                if self._broken:
                    self.rebuild()
            if self._conn in ready:
                try:
                    message = self._conn.recv()
                except (EOFError, OSError):
                    return
                if message[0] == "stop":
                    return
                if message[0] == "encrypt":
                    self.encrypt(*message[1:])


def _is_live_child(pid: int) -> bool:
    """True while ``pid`` is our child and not a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError:
        return not sys.platform.startswith("linux")  # no /proc: rely on the executor
    return fields[0] not in ("Z", "X") and int(fields[1]) == os.getpid()


def _children_of(pid: int) -> list[int]:
    """Live child pids of ``pid`` (Linux /proc; empty elsewhere)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii")
    except OSError:
        return []
    return [int(word) for word in text.split()]


def _reap_workers() -> None:
    """SIGTERM every worker (the host's process group) and reap them, bounded."""
    os.killpg(os.getpgid(0), signal.SIGTERM)  # the host itself ignores SIGTERM
    deadline = time.monotonic() + _REAP_SECONDS
    sent_kill = False
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            continue
        if time.monotonic() >= deadline:
            if sent_kill:
                return
            os.killpg(os.getpgid(0), signal.SIGKILL)  # ends the host too; workers follow
            sent_kill = True
        time.sleep(0.02)


def run_host(conn: Connection, processes: int, *, owner: int) -> int:
    """Body of the forked host process; returns its exit status.

    Args:
        conn: The host's end of the pipe to the service.
        processes: Number of worker processes to keep.
        owner: Pid of the service (the host exits if it is already gone).
    """
    # The service decides when we stop (a group SIGTERM or Ctrl-C must not end the
    # host mid-job); our own process group lets us end every worker at once.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != owner:
        return 1
    os.setpgid(0, 0)
    try:
        _Host(conn, processes).serve()
    finally:
        _reap_workers()
    return 0
