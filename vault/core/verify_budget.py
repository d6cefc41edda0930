"""A lockout on repeated failed verifications of one subject by one caller.

Rounded scores slow down only naive hill-climbers: one that tunes its step still
reaches a matching probe in a few hundred Verify calls (measured in
``docs/security.md``). Every one of those calls is a *failed* verification of the
same subject by the same caller, which an honest matching node almost never
produces - so after ``limit`` consecutive failures of a (caller, collection,
subject) triple, Verify for that triple answers RESOURCE_EXHAUSTED until
``cooldown`` seconds pass. A match resets the count. Unknown subjects count
exactly like known ones, so the lockout does not reveal who is enrolled.

Identify is the same oracle 1:N - once it answers only candidates above the
threshold, a probe with no candidate is a failed verification against everyone -
so :class:`UnmatchedProbeBudget` counts a caller's unmatched probes per
collection, every probe of a call, in fixed windows. A match does not reset it:
the caller chooses its probes and could mix in one it knows matches.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

from vault.errors import ResourceExhausted

__all__ = [
    "DEFAULT_COOLDOWN_SECONDS",
    "DEFAULT_FAILED_VERIFY_LIMIT",
    "DEFAULT_UNMATCHED_PROBE_LIMIT",
    "DEFAULT_UNMATCHED_WINDOW_SECONDS",
    "FailedVerifyBudget",
    "UnmatchedProbeBudget",
]

DEFAULT_FAILED_VERIFY_LIMIT: Final = 20
DEFAULT_COOLDOWN_SECONDS: Final = 900.0
_MAX_TRACKED: Final = 100_000
#: Unmatched Identify probes per caller and collection per window: an honest
#: watch-list node searching ~3 probes/s all hour stays below it; a yes/no
#: hill-climber needs 10^4-10^5 probes per target.
DEFAULT_UNMATCHED_PROBE_LIMIT: Final = 10_000
DEFAULT_UNMATCHED_WINDOW_SECONDS: Final = 3600.0


class FailedVerifyBudget:
    """Counts consecutive failed verifications per (caller, collection, subject); thread-safe.

    Args:
        limit: Consecutive failures allowed before the lockout.
        cooldown: Seconds the lockout lasts (counted from the last failure).
        clock: Seconds (injectable for tests).
    """

    def __init__(
        self,
        limit: int = DEFAULT_FAILED_VERIFY_LIMIT,
        cooldown: float = DEFAULT_COOLDOWN_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str, str], tuple[int, float]] = {}

    def check(self, actor: str, collection: str, subject: str) -> None:
        """Refuse a verification while the triple is locked out.

        Raises:
            ResourceExhausted: After ``limit`` consecutive failures, until the cooldown ends.
        """
        key = (actor, collection, subject)
        with self._lock:
            count, last = self._failures.get(key, (0, 0.0))
            if count < self._limit:
                return
            if self._clock() - last >= self._cooldown:
                del self._failures[key]
                return
        raise ResourceExhausted(
            f"too many failed verifications of this subject; retry after {self._cooldown:g} s"
        )

    def record(self, actor: str, collection: str, subject: str, *, matched: bool) -> None:
        """Count a failure, or forget the triple after a match."""
        key = (actor, collection, subject)
        with self._lock:
            if matched:
                self._failures.pop(key, None)
                return
            if len(self._failures) >= _MAX_TRACKED and key not in self._failures:
                self._failures.clear()  # bounded memory; worst case an attacker gets a reset
            count, _ = self._failures.get(key, (0, 0.0))
            self._failures[key] = (count + 1, self._clock())


class UnmatchedProbeBudget:
    """Counts unmatched Identify probes per (caller, collection) in fixed windows; thread-safe.

    Args:
        limit: Unmatched probes allowed per window.
        window: Seconds a window lasts (counted from its first unmatched probe).
        clock: Seconds (injectable for tests).
    """

    def __init__(
        self,
        limit: int = DEFAULT_UNMATCHED_PROBE_LIMIT,
        window: float = DEFAULT_UNMATCHED_WINDOW_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._spent: dict[tuple[str, str], tuple[int, float]] = {}

    def check(self, actor: str, collection: str, probes: int) -> None:
        """Refuse a call of ``probes`` probes that could exceed the window's budget.

        Raises:
            ResourceExhausted: If ``probes`` unmatched probes would go over the limit.
        """
        key = (actor, collection)
        with self._lock:
            spent, start = self._spent.get(key, (0, 0.0))
            if spent and self._clock() - start >= self._window:
                del self._spent[key]
                spent = 0
            if spent + probes <= self._limit:
                return
        raise ResourceExhausted(
            f"too many unmatched identification probes ({spent} of {self._limit} per "
            f"{self._window:g} s); retry later or send fewer probes"
        )

    def record(self, actor: str, collection: str, unmatched: int) -> None:
        """Charge ``unmatched`` probes to the caller's current window."""
        if unmatched <= 0:
            return
        key = (actor, collection)
        with self._lock:
            if len(self._spent) >= _MAX_TRACKED and key not in self._spent:
                self._spent.clear()  # bounded memory; worst case an attacker gets a reset
            spent, start = self._spent.get(key, (0, self._clock()))
            self._spent[key] = (spent + unmatched, start)
