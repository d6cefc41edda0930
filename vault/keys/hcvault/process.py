"""Child processes that cannot outlive the process that started them.

The embedded key server and the test fixtures run ``bao server`` as a child. If the
parent dies without cleaning up (``kill -9``, OOM killer), an orphaned server would
keep its ports and raft lock and break the next start. On Linux the kernel can
deliver a signal to the child when its parent dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = ["start_tied_child", "stop_child"]

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


# Resolved once in the parent: looking up symbols after fork() in a threaded process
# risks a deadlock on loader locks, so the child only calls an already-bound function.
_PRCTL = _load_prctl()


def _die_with_parent_hook(parent_pid: int) -> Callable[[], None] | None:
    prctl = _PRCTL
    if prctl is None:
        return None

    def hook() -> None:
        # SIGKILL rather than SIGTERM: nobody is left to escalate if a graceful
        # shutdown hangs, and raft storage is crash-safe.
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent_pid:
            # The parent died between fork() and prctl(): the signal will never come.
            os._exit(1)

    return hook


def start_tied_child(
    argv: Sequence[str], *, log_path: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stdout and stderr appended to ``log_path``.

    The child gets its own session (so a terminal's Ctrl-C reaches only the parent,
    which then stops the child in order) and, on Linux, is killed by the kernel when
    the parent *thread* that called this function exits. Call it from a long-lived
    thread, normally the main thread.

    Args:
        argv: Program and arguments.
        log_path: File the child's output is appended to (created with mode 0600).
        env: Environment for the child; the parent's when None.

    Returns:
        The running child.
    """
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            preexec_fn=_die_with_parent_hook(os.getpid()),
        )
    finally:
        # The child holds its own duplicate of the descriptor.
        os.close(fd)


def stop_child(child: subprocess.Popen[bytes], *, grace_seconds: float = 10.0) -> int:
    """SIGTERM the child, wait up to ``grace_seconds``, then SIGKILL; idempotent.

    Returns:
        The child's exit status (negative signal number if it was killed).
    """
    if child.poll() is not None:
        return child.returncode
    try:
        child.terminate()
        return child.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()
    except ProcessLookupError:
        return child.wait()
