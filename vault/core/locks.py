"""The locks and queues every loaded collection carries."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vault.core.group_commit import EnrollmentQueue
from vault.core.matching import DecoyPool

__all__ = ["CollectionLocks"]


class CollectionLocks:
    """Writers (enrol, erase) serialise on ``writer`` and do their slow work -
    encryption, the store commit - holding only it; ``state`` guards the in-memory
    gallery and is held by readers while they score and by writers only while they
    apply a committed change, so identification keeps running during enrolment."""

    def __init__(
        self,
        *,
        taken: Callable[[Sequence[str]], list[str]],
        commit: Callable[[list[str], np.ndarray, list[tuple[Any, list[str]]]], None],
    ) -> None:
        self.writer = threading.Lock()
        self.state = threading.RLock()
        self.enrollments = EnrollmentQueue(taken, commit, self.writer)
        # Enrolled ids an unknown id's Verify is scored against (see matching.py).
        self.decoys = DecoyPool()
