"""The running service's retention schedule: erase expired templates every interval.

A daemon thread calls :meth:`ComplianceOps.enforce_retention` as the system actor
(every erasure and every run is audited by the core). A failed run is logged and
retried at the next interval; it never stops the service.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from vault.core.compliance import SYSTEM_RETENTION, ComplianceApi
from vault.core.retention import RetentionResult
from vault.errors import ConfigurationError

__all__ = ["RetentionScheduler"]

log = logging.getLogger(__name__)


class RetentionScheduler:
    """Runs retention enforcement at start and then every ``interval`` seconds.

    Args:
        vault: The core whose collections are enforced.
        interval: Seconds between runs; 0 disables the schedule.
        exclusive: Entered around each run, yields False while another process
            runs one (front-ends sharing a store sweep one at a time).

    Raises:
        ConfigurationError: A negative or non-finite interval.
    """

    def __init__(
        self,
        vault: ComplianceApi,
        interval: float,
        *,
        exclusive: Callable[[], AbstractContextManager[bool]] | None = None,
    ) -> None:
        if not 0 <= interval < float("inf"):
            raise ConfigurationError("the retention interval must be 0 (off) or positive seconds")
        self._vault = vault
        # Yields whether this process may sweep now (another front-end may be sweeping).
        self._exclusive = exclusive or (lambda: nullcontext(True))
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the schedule (no-op when disabled)."""
        if self._interval == 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="biovault-retention", daemon=True)
        self._thread.start()

    def run_once(self) -> list[RetentionResult]:
        """One enforcement run over every collection; failures are logged, not raised."""
        try:
            with self._exclusive() as mine:
                if not mine:
                    log.info("retention: another front-end is sweeping; skipped this run")
                    return []
                results = self._vault.enforce_retention(SYSTEM_RETENTION)
        except Exception as error:  # the schedule must survive a failed run
            log.error("retention run failed: %s", type(error).__name__)
            return []
        erased = sum(len(r.erased) for r in results)
        if erased:
            log.info("retention run erased %d expired template(s)", erased)
        return results

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self._interval)

    def stop(self) -> None:
        """Stop the schedule and wait for a running pass to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
