"""gRPC health checking that follows :meth:`VaultApi.is_serving`.

The overall status (service ``""``) and each named service report SERVING only
while the core says it can serve (keys loaded, key service reachable). A small
daemon thread re-asks the core periodically, so a Vault outage shows up as
NOT_SERVING without any request having to fail first; :meth:`VaultHealth.refresh`
may also be called by whoever learns of a change first (the encryption worker
pool does), so a short degraded spell is published, and streamed to watchers,
even when it ends before the next periodic refresh.

``Watch`` streams run on a small pool of their own: a watching client (gRPC
client-side health checking keeps one stream per channel) then never holds one
of the threads that serve RPCs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent import futures
from typing import Any, Final

import grpc
from grpc_health.v1 import health, health_pb2

from vault.core.api import VaultApi
from vault.service.wire import MalformedRequest

__all__ = ["DEFAULT_HEALTH_INTERVAL", "MAX_WATCHERS", "VaultHealth"]

DEFAULT_HEALTH_INTERVAL: Final = 2.0
#: Watch streams served at once; further watchers wait for one to end.
MAX_WATCHERS: Final = 16
_log = logging.getLogger(__name__)
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class VaultHealth(health.HealthServicer):
    """A health servicer whose statuses mirror ``api.is_serving()``.

    Args:
        api: The core whose readiness is reported.
        services: Fully-qualified service names reported besides the overall "".
        interval: Seconds between two refreshes by the background thread.
    """

    def __init__(
        self,
        api: VaultApi,
        *,
        services: Sequence[str],
        interval: float = DEFAULT_HEALTH_INTERVAL,
    ) -> None:
        self._watch_pool = futures.ThreadPoolExecutor(
            max_workers=MAX_WATCHERS, thread_name_prefix="biovault-health-watch"
        )
        # Blocking watchers (a generator per stream) on their own pool. The
        # non-blocking callback style is not used: interceptors that wrap the
        # handler call it with (request, context) only.
        super().__init__(experimental_non_blocking=False, experimental_thread_pool=self._watch_pool)
        self._api = api
        self._names = (health.OVERALL_HEALTH, *services)
        self._interval = interval
        self._stop = threading.Event()
        self._serving: bool | None = None
        self._refresh_lock = threading.Lock()
        self._watchers: set[Any] = set()
        self._watchers_lock = threading.Lock()
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name="biovault-health", daemon=True)
        self._thread.start()

    def refresh(self) -> bool:
        """Ask the core now and publish the answer.

        Returns:
            Whether the vault is serving.
        """
        # One refresh at a time, so two callers cannot publish out of order.
        with self._refresh_lock:
            try:
                serving = bool(self._api.is_serving())
            except Exception as error:  # a failing probe means "not serving", never a crash
                _log.warning("health probe failed with %s", type(error).__name__)
                serving = False
            if serving != self._serving:
                _log.info("vault is %s", "SERVING" if serving else "NOT_SERVING")
                self._serving = serving
                # Only changes are published: every set() is one message to every
                # watcher, and Watch promises changes, not a heartbeat.
                for name in self._names:
                    self.set(name, _SERVING if serving else _NOT_SERVING)
        return serving

    def Check(self, request: Any, context: Any) -> Any:
        """The standard check; a request that does not parse is INVALID_ARGUMENT."""
        _refuse_malformed(request, context)
        return super().Check(request, context)

    def Watch(self, request: Any, context: Any, send_response_callback: Any = None) -> Any:
        """The standard watch: the current status, then every change, until the
        caller hangs up; a request that does not parse is INVALID_ARGUMENT."""
        _refuse_malformed(request, context)
        watcher = super().Watch(request, context, send_response_callback)
        if watcher is not None:  # the blocking form: a generator we can end on close()
            with self._watchers_lock:
                self._watchers.add(watcher)
            context.add_callback(lambda: self._forget(watcher))
        return watcher

    def _forget(self, watcher: Any) -> None:
        with self._watchers_lock:
            self._watchers.discard(watcher)

    @property
    def serving(self) -> bool:
        """The last answer of the core (as published), without asking again."""
        return bool(self._serving)

    def close(self) -> None:
        """Report NOT_SERVING from now on and stop the background thread."""
        self._stop.set()
        self.enter_graceful_shutdown()
        # Every watcher has been sent NOT_SERVING; now end their streams, or they
        # would hold the server's shutdown for the whole grace period.
        with self._watchers_lock:
            watchers, self._watchers = list(self._watchers), set()
        for watcher in watchers:
            watcher.close()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=max(self._interval, 1.0) + 1.0)
        self._watch_pool.shutdown(wait=False)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.refresh()


def _refuse_malformed(request: Any, context: Any) -> None:
    # Registered with tolerant decoding (wire.add_service), so bytes that do not
    # parse arrive here instead of becoming gRPC's INTERNAL.
    if isinstance(request, MalformedRequest):
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.error().args[0])
