"""The caller's deadline, carried down to the slow steps without threading it through
every signature.

The service sets it from the gRPC deadline for the duration of one handler
(:func:`bounded_by`); the core checks it before each step that writes or scores
(:func:`check`), and the key-service client shortens its HTTP timeout to what is
left (:func:`timeout_within`). A context variable, not a global: each handler
thread sees only its own call's deadline, and code run outside a call sees none.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from vault.errors import DeadlineExceeded

__all__ = [
    "bounded_by",
    "check",
    "current",
    "exceeded",
    "expired",
    "passed",
    "remaining",
    "timeout_within",
    "until",
]

_DEADLINE: ContextVar[float | None] = ContextVar("biovault_deadline", default=None)

#: Shortest HTTP timeout handed out: below it a request cannot even connect.
_MIN_TIMEOUT = 0.05


@contextmanager
def bounded_by(seconds: float | None) -> Iterator[None]:
    """Within the block, work must finish ``seconds`` from now (None: no deadline)."""
    token = _DEADLINE.set(None if seconds is None else time.monotonic() + max(seconds, 0.0))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


@contextmanager
def until(when: float | None) -> Iterator[None]:
    """Within the block, the deadline is ``when`` on the monotonic clock (from
    :func:`current`; None: no deadline) - for work done on behalf of other calls."""
    token = _DEADLINE.set(when)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining() -> float | None:
    """Seconds left before the current call's deadline (None: no deadline)."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


def current() -> float | None:
    """The current call's deadline on the monotonic clock (None: no deadline), for
    work handed to another thread, which does not see this one's context."""
    return _DEADLINE.get()


def passed(when: float | None) -> bool:
    """True if the deadline ``when`` (from :func:`current`) has passed."""
    return when is not None and time.monotonic() >= when


def expired() -> bool:
    """True once the current call's deadline has passed."""
    return passed(current())


def exceeded(step: str) -> DeadlineExceeded:
    """The error for a deadline that passed before ``step`` (phrased to follow "before")."""
    return DeadlineExceeded(f"the caller's deadline passed before {step}; nothing was changed")


def check(step: str) -> None:
    """Refuse to start ``step`` (phrased to follow "before") if the deadline has passed.

    Raises:
        DeadlineExceeded: It has; the caller has stopped waiting for the answer.
    """
    if expired():
        raise exceeded(step)


def timeout_within(default: float) -> float:
    """``default`` shortened to the time left before the deadline (never below 50 ms)."""
    left = remaining()
    return default if left is None else max(_MIN_TIMEOUT, min(default, left))
