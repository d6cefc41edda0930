"""Prometheus metrics: requests and latency by RPC and status, gallery sizes, Vault health.

Labels (and the access log, ``vault.access``) carry only RPC names, status code
names and collection names - never a subject id, a score, a template or anything
from a request body. The exporter
is plain HTTP on its own port (``serve --metrics-listen HOST:PORT``); it is off
by default, and what it shows is safe to scrape without authentication.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from vault.transport import split_host_port

__all__ = ["MetricsInterceptor", "VaultMetrics", "serve_metrics"]

#: One line per finished RPC: method, status code and milliseconds, nothing else.
_access = logging.getLogger("vault.access")

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _VaultState(Collector):
    """Gallery sizes and health, read at scrape time."""

    def __init__(
        self, sizes: Callable[[], dict[str, int]] | None, serving: Callable[[], bool] | None
    ) -> None:
        self._sizes = sizes
        self._serving = serving

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


class VaultMetrics:
    """The service's metrics in their own registry.

    Args:
        sizes: Returns enrolled templates per collection (None: not exported).
        serving: Returns the last health status (None: not exported).
    """

    def __init__(
        self,
        *,
        sizes: Callable[[], dict[str, int]] | None = None,
        serving: Callable[[], bool] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "biovault_requests",
            "RPCs handled, by method and status code",
            ["rpc", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "biovault_request_seconds",
            "RPC handling time, by method and status code",
            ["rpc", "code"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "biovault_requests_in_flight", "RPCs being handled", registry=self.registry
        )
        self.registry.register(_VaultState(sizes, serving))

    def observe(self, rpc: str, code: str, seconds: float) -> None:
        """Count one finished RPC and write its access-log line (same fields as labels)."""
        self.requests.labels(rpc, code).inc()
        self.latency.labels(rpc, code).observe(seconds)
        _access.info(
            "%s %s %.1f ms",
            rpc,
            code,
            seconds * 1e3,
            extra={"rpc": rpc, "code": code, "ms": round(seconds * 1e3, 2)},
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
        name = f"{rpc[-2].rsplit('.', 1)[-1]}.{rpc[-1]}" if len(rpc) == 3 else "unknown"
        return _wrapped(handler, name, self._metrics)


@contextlib.contextmanager
def _measured(metrics: VaultMetrics, name: str, context: Any) -> Iterator[None]:
    """Count the RPC in flight while the block runs, then observe its code and time."""
    started, error = time.perf_counter(), None
    metrics.in_flight.inc()
    try:
        yield
    except BaseException as caught:
        error = caught
        raise
    finally:
        metrics.in_flight.dec()
        metrics.observe(name, _code_of(context, error), time.perf_counter() - started)


def _wrapped(handler: grpc.RpcMethodHandler, name: str, metrics: VaultMetrics) -> Any:
    def unary(behavior: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        @functools.wraps(behavior)
        def timed(request: Any, context: Any) -> Any:
            with _measured(metrics, name, context):
                return behavior(request, context)

        return timed

    def streaming(behavior: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        @functools.wraps(behavior)
        def timed(request: Any, context: Any) -> Iterator[Any]:
            with _measured(metrics, name, context):
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
