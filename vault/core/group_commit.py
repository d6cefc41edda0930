"""Group commit of concurrent enrolments to one collection.

An enrolment costs per block it touches, not per template: a fresh encryption of
every coordinate ciphertext of the block, a re-seal and a rewrite of the whole
block (32 MiB at d = 512), and one noise-budget step. Enrolment stations that each
send one template at a time therefore queued behind each other for seconds (the
load run in docs/security.md). Here the requests that arrive while a commit is
under way wait together; the next commit takes all of them as one enrolment - one
encryption, one write - and each request still gets its own answer and audit
entry.

Each request is all-or-nothing on its own: one whose ids are taken (by the store
or by an earlier request of the same batch), or whose caller's deadline has
passed, is refused alone and the rest go ahead. A failure of the commit itself
(the store, the key service) refuses every request of that batch, and nothing of
it is stored. ``commit`` also receives each accepted request's ``tag`` with its
ids, so that the core can write every request's audit entry before the store
commit makes the enrolment visible.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vault import deadline
from vault.errors import AlreadyExists

__all__ = ["MAX_BATCH_TEMPLATES", "EnrollmentQueue"]

#: Most templates merged into one commit (a larger single request goes alone).
MAX_BATCH_TEMPLATES = 16384


@dataclass(eq=False)
class _Request:
    subject_ids: list[str]
    units: np.ndarray
    deadline: float | None
    tag: Any = None
    done: bool = False
    error: BaseException | None = None
    ids: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.ids = set(self.subject_ids)


class EnrollmentQueue:
    """Serialises one collection's enrolments and merges those that wait together.

    Args:
        taken: Which of these ids are already enrolled (called under ``writer``).
        commit: Plan, store and apply one enrolment of (ids, unit rows, and each
            accepted request's (tag, ids)); raises if nothing was stored.
        writer: The collection's writer lock (erasures hold it too).
    """

    def __init__(
        self,
        taken: Callable[[Sequence[str]], list[str]],
        commit: Callable[[list[str], np.ndarray, list[tuple[Any, list[str]]]], None],
        writer: threading.Lock,
    ) -> None:
        self._taken = taken
        self._commit = commit
        self._writer = writer
        self._pending: list[_Request] = []
        self._cond = threading.Condition()
        self._leading = False

    def submit(self, subject_ids: Sequence[str], units: np.ndarray, tag: Any = None) -> None:
        """Enrol ``units`` under ``subject_ids``; return once they are stored.

        ``tag`` travels with the request to ``commit`` (the core's audit context).

        Raises:
            AlreadyExists: Some of the ids are enrolled (nothing of this request stored).
            DeadlineExceeded: The caller's deadline passed before the commit.
            VaultError: The commit failed (nothing of this request stored).
        """
        request = _Request(list(subject_ids), units, deadline.current(), tag)
        with self._cond:
            self._pending.append(request)
            while self._leading and not request.done:
                self._cond.wait()
            if not request.done:
                self._leading = True
        if not request.done:
            try:
                self._lead_until(request)
            finally:
                with self._cond:
                    self._leading = False
                    self._cond.notify_all()
        if request.error is not None:
            raise request.error

    def _lead_until(self, mine: _Request) -> None:
        """Commit batches (oldest requests first) until ``mine`` is answered."""
        while not mine.done:
            with self._cond:
                batch = self._take_batch()
            self._run(batch)
            with self._cond:
                self._cond.notify_all()

    def _take_batch(self) -> list[_Request]:
        batch: list[_Request] = []
        size = 0
        while self._pending:
            rows = len(self._pending[0].units)
            if batch and size + rows > MAX_BATCH_TEMPLATES:
                break
            batch.append(self._pending.pop(0))
            size += rows
        return batch

    def _run(self, batch: list[_Request]) -> None:
        accepted: list[_Request] = []
        try:
            with self._writer:
                taken = set(self._taken([s for r in batch for s in r.subject_ids]))
                for request in batch:
                    if deadline.passed(request.deadline):
                        request.error = deadline.exceeded("the enrolment was stored")
                    elif request.ids & taken:
                        count = len(request.ids & taken)
                        request.error = AlreadyExists(f"{count} subject id(s) are already enrolled")
                    else:
                        accepted.append(request)
                        taken |= request.ids
                if accepted:
                    # The leader's own deadline must not fail the others' requests:
                    # the batch is worth storing while any accepted caller still waits.
                    with deadline.until(_latest([r.deadline for r in accepted])):
                        self._commit(
                            [s for r in accepted for s in r.subject_ids],
                            np.concatenate([r.units for r in accepted]),
                            [(r.tag, r.subject_ids) for r in accepted],
                        )
        except BaseException as error:  # answered to the requests, raised in their threads
            for request in batch:
                if request.error is None:
                    request.error = error
        finally:
            for request in batch:
                request.done = True


def _latest(deadlines: list[float | None]) -> float | None:
    """The last of the deadlines (None - no deadline - outlasts every other)."""
    return None if None in deadlines else max(d for d in deadlines if d is not None)
