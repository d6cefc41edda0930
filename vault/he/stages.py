"""Wall-clock time spent in each stage of encrypted scoring, for the bench.

The engine adds to one process-wide clock as it runs (a few ``perf_counter``
calls per scored chunk, far below the noise), and ``biovault bench`` resets it
around a measurement and reports the split, so the next bottleneck is visible in
the JSON instead of in a profiler session. Nothing here sees a score or a key.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["STAGES", "StageClock"]

STAGE_NAMES = ("product", "reduction", "decryption", "decode", "top_k")


class StageClock:
    """Seconds per named stage, summed since the last :meth:`reset`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seconds: dict[str, float] = dict.fromkeys(STAGE_NAMES, 0.0)

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._seconds[stage] = self._seconds.get(stage, 0.0) + seconds

    @contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - started)

    def reset(self) -> None:
        with self._lock:
            self._seconds = dict.fromkeys(STAGE_NAMES, 0.0)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self._seconds)


STAGES = StageClock()
