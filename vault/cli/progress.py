"""The one progress display of the CLI (enroll, evaluate, keys rotate, bench).

On a terminal a stage's line is redrawn in place at most twice a second. In a log
(stderr not a terminal) a redraw would be garbage, so a line is written when a
stage starts, then at most one every 30 s with an estimate of the time left, and
one with the stage's duration when it ends: a long run stays visible in
``journalctl``/CI logs without flooding them. Commands whose steps are few and each
worth a record (a key rotation's batches) log every step instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Final, TextIO

__all__ = ["LOG_SECONDS", "Progress"]

_REDRAW_SECONDS: Final = 0.5
LOG_SECONDS: Final = 30.0


class Progress:
    """Shows ``done/total`` of named stages on stderr.

    Args:
        prefix: What is running, printed first (``evaluate: ...``).
        unit: Appended to the counts, e.g. ``" templates"``.
        bar_width: Width of a ``[###...]`` bar; 0 shows none.
        stage_width: Stage names are padded to this width so bars line up.
        percent: Also show the share done, e.g. ``(40%)``.
        log_seconds: Off a terminal, the least time between two lines of a stage;
            0 writes every step.
        stream: Where to write; stderr (as it is when constructed) by default.
    """

    def __init__(
        self,
        prefix: str,
        *,
        unit: str = "",
        bar_width: int = 0,
        stage_width: int = 0,
        percent: bool = False,
        log_seconds: float = LOG_SECONDS,
        stream: TextIO | None = None,
    ) -> None:
        self._prefix = prefix
        self._unit = unit
        self._bar_width = bar_width
        self._stage_width = stage_width
        self._percent = percent
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty()
        self._interval = _REDRAW_SECONDS if self._tty else log_seconds
        self._stage: str | None = None
        self._started = self._last = 0.0
        self._open_line = False  # a terminal line redrawn in place, not yet ended

    def __call__(self, stage: str, done: int, total: int, detail: str = "") -> None:
        """Report that ``done`` of ``total`` items of ``stage`` are finished."""
        now = time.monotonic()
        finished = done >= total
        if stage != self._stage:
            self._end_open_line()
            self._stage, self._started, self._last = stage, now, now
        elif not finished and now - self._last < self._interval:
            return
        self._last = now
        line = self._line(stage, done, total, detail, now - self._started, finished=finished)
        if self._tty:
            self._stream.write("\r" + line + ("\n" if finished else "\x1b[K"))
            self._open_line = not finished
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def counter(self, stage: str, total: int) -> Callable[[int], None]:
        """A callback taking only ``done``, for one stage of ``total`` items."""
        return lambda done: self(stage, done, total)

    def note(self, message: str) -> None:
        """Write one free-form line (a step without counts)."""
        self._end_open_line()
        self._stream.write(f"{self._prefix}: {message}\n")
        self._stream.flush()

    def _line(
        self, stage: str, done: int, total: int, detail: str, elapsed: float, *, finished: bool
    ) -> str:
        parts = [f"{self._prefix}: {stage:{self._stage_width}s}"]
        if self._bar_width:
            filled = min(self._bar_width, int(self._bar_width * done / max(total, 1)))
            parts.append(f"[{'#' * filled}{'.' * (self._bar_width - filled)}]")
        counts = f"{done}/{total}{self._unit}"
        if self._percent:
            counts += f" ({100 * done // max(total, 1)}%)"
        parts.append(counts)
        if detail:
            parts.append(detail)
        line = " ".join(parts)
        if finished:
            line += f" in {elapsed:.0f} s"
        elif done and elapsed >= 1.0:
            line += f", about {elapsed * (total - done) / done:.0f} s left"
        return line

    def _end_open_line(self) -> None:
        if self._open_line:
            self._stream.write("\n")
            self._open_line = False
