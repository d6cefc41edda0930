"""Prometheus metrics: RPCs by gRPC service, method and code, refusals by cause,
gallery sizes, health, the process's memory and CPU, and the build.

RPC metrics use the grpc-ecosystem label names (``grpc_type``, ``grpc_service``,
``grpc_method``, ``grpc_code``), so dashboards written for go-grpc-prometheus and
py-grpc-prometheus read them. Labels (and the access log, ``vault.access``) carry
only service, method and status code names, refusal causes and collection names -
never a subject id, a score, a template or anything from a request body. The
exporter is plain HTTP on its own port (``serve --metrics-listen HOST:PORT``); it
is off by default, and what it shows is safe to scrape without authentication.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import platform
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

import grpc
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from vault import __version__
from vault.transport import split_host_port

__all__ = [
    "REFUSAL_REASONS",
    "MetricsInterceptor",
    "VaultMetrics",
    "note_refusal",
    "serve_metrics",
]

#: One line per finished RPC: method, status code and milliseconds, nothing else.
_access = logging.getLogger("vault.access")

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_RPC_LABELS: Final = ("grpc_type", "grpc_service", "grpc_method", "grpc_code")

#: Why a call was answered RESOURCE_EXHAUSTED (the ``reason`` label of
#: ``biovault_refusals_total``). A rate-limit refusal says "this caller asks too
#: often"; a lockout says "this caller failed to verify one subject too many times"
#: - the second is the hill-climbing signal, so operators must see them apart.
REFUSAL_REASONS: Final = frozenset(
    {
        "rate_limit",
        "failed_verify_lockout",
        "stream_limit",
        "stream_idle",
        "enroll_too_large",
        "other",
    }
)

# Set by the layer that refuses a call, read by the metrics interceptor when the call
# ends. gRPC runs each call in a context of its own, so a value never leaks from one
# call into another.
_refusal: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "biovault_refusal", default=None
)


def note_refusal(reason: str) -> None:
    """Record why the current call is being refused (call where the refusal is mapped).

    Args:
        reason: One of :data:`REFUSAL_REASONS`.
    """
    _refusal.set(reason if reason in REFUSAL_REASONS else "other")


def _refusal_reason(method: str) -> str:
    noted = _refusal.get()
    if noted is not None:
        return noted
    # Nothing in the service layer noted a reason, so the core refused: the
    # failed-verification budget (vault/core/verify_budget.py) is its only
    # RESOURCE_EXHAUSTED, and it guards Verify.
    return "failed_verify_lockout" if method == "Verify" else "other"


class _VaultState(Collector):
    """Gallery sizes and health, read at scrape time."""

    def __init__(
        self,
        sizes: Callable[[], dict[str, int]] | None,
        serving: Callable[[], bool] | None,
        shards: Callable[[], list[Any]] | None = None,
    ) -> None:
        self._sizes = sizes
        self._serving = serving
        self._shards = shards

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self._sizes is not None:
            family = GaugeMetricFamily(
                "biovault_gallery_templates",
                "Templates enrolled per collection",
                labels=["collection"],
            )
            for name, size in sorted(self._sizes().items()):
                family.add_metric([name], size)
            yield family
        if self._serving is not None:
            yield GaugeMetricFamily(
                "biovault_serving",
                "1 while the vault serves (keys loaded, key service reachable), else 0",
                value=1.0 if self._serving() else 0.0,
            )
        if self._shards is not None:
            yield from _shard_families(self._shards())


def _shard_families(shards: list[Any]) -> Iterator[GaugeMetricFamily]:
    """Per gallery shard (serve --ray-address): state, templates, memory, restarts."""
    up = GaugeMetricFamily(
        "biovault_shard_up", "1 while the shard answers (ALIVE), else 0", labels=["shard"]
    )
    held = GaugeMetricFamily(
        "biovault_shard_templates", "Live templates the shard holds", labels=["shard"]
    )
    rss = GaugeMetricFamily(
        "biovault_shard_resident_bytes", "Resident memory of the shard's process", labels=["shard"]
    )
    restarts = GaugeMetricFamily(
        "biovault_shard_restarts", "Times Ray restarted the shard's actor", labels=["shard"]
    )
    load = GaugeMetricFamily(
        "biovault_shard_load_seconds",
        "Seconds the shard's last (re)start took to load its blocks",
        labels=["shard"],
    )
    for s in shards:
        label = [str(s.shard)]
        up.add_metric(label, 1.0 if s.state == "ALIVE" else 0.0)
        held.add_metric(label, s.templates)
        rss.add_metric(label, s.rss_bytes)
        restarts.add_metric(label, s.restarts)
        load.add_metric(label, s.load_seconds)
    yield from (up, held, rss, restarts, load)


class VaultMetrics:
    """The service's metrics in their own registry.

    Args:
        sizes: Returns enrolled templates per collection (None: not exported).
        serving: Returns the last health status (None: not exported).
        shards: Returns each gallery shard's status (None: no cluster).
    """

    def __init__(
        self,
        *,
        sizes: Callable[[], dict[str, int]] | None = None,
        serving: Callable[[], bool] | None = None,
        shards: Callable[[], list[Any]] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "biovault_requests",
            "RPCs handled, by gRPC type, service, method and status code",
            _RPC_LABELS,
            registry=self.registry,
        )
        self.latency = Histogram(
            "biovault_request_seconds",
            "RPC handling time, by gRPC type, service, method and status code",
            _RPC_LABELS,
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.refusals = Counter(
            "biovault_refusals",
            "RPCs answered RESOURCE_EXHAUSTED, by service, method and cause "
            "(rate_limit, failed_verify_lockout, stream_limit, stream_idle, ...)",
            ["grpc_service", "grpc_method", "reason"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "biovault_requests_in_flight", "RPCs being handled", registry=self.registry
        )
        Info("biovault_build", "The running build", registry=self.registry).info(
            {
                "version": __version__,
                "python": platform.python_version(),
                "implementation": platform.python_implementation(),
            }
        )
        # Resident memory and CPU of the service process: HE keys, galleries and
        # worker pools make memory the first thing to watch.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.registry.register(_VaultState(sizes, serving, shards))

    def observe(self, rpc: str, code: str, seconds: float, *, grpc_type: str = "unary") -> None:
        """Count one finished RPC and write its access-log line.

        Args:
            rpc: ``Service.Method`` as logged, e.g. ``TemplateVault.Verify``, or the full
                ``package.Service.Method``; the labels split it into service and method.
            code: The gRPC status code name.
            seconds: Handling time.
            grpc_type: ``unary``, ``client_stream``, ``server_stream`` or ``bidi_stream``.
        """
        service, _, method = rpc.rpartition(".")
        self.requests.labels(grpc_type, service, method, code).inc()
        self.latency.labels(grpc_type, service, method, code).observe(seconds)
        if code == "RESOURCE_EXHAUSTED":
            self.refusals.labels(service, method, _refusal_reason(method)).inc()
        short = f"{service.rsplit('.', 1)[-1]}.{method}"
        _access.info(
            "%s %s %.1f ms",
            short,
            code,
            seconds * 1e3,
            extra={"rpc": short, "code": code, "ms": round(seconds * 1e3, 2)},
        )


def _code_of(context: Any, error: BaseException | None) -> str:
    code = context.code() if hasattr(context, "code") else None
    if isinstance(code, grpc.StatusCode):
        return code.name
    return "UNKNOWN" if error is not None else "OK"


class MetricsInterceptor(grpc.ServerInterceptor):
    """Times every RPC and counts it by method and final status code."""

    def __init__(self, metrics: VaultMetrics) -> None:
        self._metrics = metrics

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        rpc = handler_call_details.method.rsplit("/", 2)
        name = f"{rpc[-2]}.{rpc[-1]}" if len(rpc) == 3 else "unknown.unknown"
        return _wrapped(handler, name, self._metrics)


def _type_of(handler: grpc.RpcMethodHandler) -> str:
    if handler.request_streaming:
        return "bidi_stream" if handler.response_streaming else "client_stream"
    return "server_stream" if handler.response_streaming else "unary"


@contextlib.contextmanager
def _measured(metrics: VaultMetrics, name: str, grpc_type: str, context: Any) -> Iterator[None]:
    """Count the RPC in flight while the block runs, then observe its code and time."""
    started, error = time.perf_counter(), None
    _refusal.set(None)
    metrics.in_flight.inc()
    try:
        yield
    except BaseException as caught:
        error = caught
        raise
    finally:
        metrics.in_flight.dec()
        code = _code_of(context, error)
        metrics.observe(name, code, time.perf_counter() - started, grpc_type=grpc_type)


def _wrapped(handler: grpc.RpcMethodHandler, name: str, metrics: VaultMetrics) -> Any:
    grpc_type = _type_of(handler)

    def unary(behavior: Callable[..., Any]) -> Callable[..., Any]:
        # ``*rest`` passes on the response callback of a non-blocking handler
        # (health Watch), which answers through it and returns at once.
        @functools.wraps(behavior)
        def timed(request: Any, context: Any, *rest: Any) -> Any:
            with _measured(metrics, name, grpc_type, context):
                return behavior(request, context, *rest)

        return timed

    def streaming(behavior: Callable[..., Any]) -> Callable[..., Any]:
        if getattr(behavior, "experimental_non_blocking", False):
            return unary(behavior)

        @functools.wraps(behavior)
        def timed(request: Any, context: Any) -> Iterator[Any]:
            with _measured(metrics, name, grpc_type, context):
                yield from behavior(request, context)

        return timed

    if handler.request_streaming and handler.response_streaming:
        factory, behavior, wrap = (
            grpc.stream_stream_rpc_method_handler,
            handler.stream_stream,
            streaming,
        )
    elif handler.request_streaming:
        factory, behavior, wrap = grpc.stream_unary_rpc_method_handler, handler.stream_unary, unary
    elif handler.response_streaming:
        factory, behavior, wrap = (
            grpc.unary_stream_rpc_method_handler,
            handler.unary_stream,
            streaming,
        )
    else:
        factory, behavior, wrap = grpc.unary_unary_rpc_method_handler, handler.unary_unary, unary
    return factory(
        wrap(behavior),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def serve_metrics(listen: str, metrics: VaultMetrics) -> Callable[[], None]:
    """Start the HTTP exporter on ``listen``; returns a function that stops it.

    Raises:
        ConfigurationError: If the address is malformed.
    """
    host, port = split_host_port(listen)
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
