"""Server lifecycle: build the gRPC server around a core, run it until a signal.

This is the one place where the concrete vault is wired to the transport:
:func:`run` opens the core through ``vault.service.bootstrap.open_vault_services`` and
:func:`build_server` registers the servicer, health checking and reflection.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent import futures
from types import FrameType
from typing import Any, Final, cast

import grpc
from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection

from vault.config import ServeSettings
from vault.core.api import VaultApi
from vault.core.compliance import ComplianceApi
from vault.errors import ConfigurationError
from vault.service.admin import KeyAdminApi, add_key_admin
from vault.service.authz import AuthorizationInterceptor, RefusalAudit, actor_of
from vault.service.cluster_admin import add_cluster_admin
from vault.service.compliance_servicer import add_compliance_services
from vault.service.enrollment import DEFAULT_MAX_ENROLL_BYTES
from vault.service.health import DEFAULT_HEALTH_INTERVAL, VaultHealth
from vault.service.metrics import MetricsInterceptor, VaultMetrics, serve_metrics
from vault.service.ratelimit import RateLimit, RateLimiter
from vault.service.roles import RoleMap
from vault.service.servicer import TemplateVaultServicer
from vault.service.streams import DEFAULT_STREAM_LIMITS, CallScheduler, StreamLimits
from vault.service.tls import ServerTls
from vault.service.transform_admin import TransformKeyApi, add_transform_key_admin
from vault.service.wire import SERVICE_NAME, add_service, add_template_vault
from vault.transport import require_plaintext_allowed

__all__ = ["DEFAULT_GRACE_SECONDS", "build_server", "run"]

DEFAULT_GRACE_SECONDS: Final = 10.0
_log = logging.getLogger(__name__)


def build_server(
    api: VaultApi,
    listen: str,
    *,
    max_message_bytes: int,
    workers: int,
    max_enroll_bytes: int = DEFAULT_MAX_ENROLL_BYTES,
    health_interval: float = DEFAULT_HEALTH_INTERVAL,
    key_admin: KeyAdminApi | None = None,
    compliance: ComplianceApi | None = None,
    tls: ServerTls | None = None,
    role_map: RoleMap | None = None,
    rate_limit: RateLimit | None = None,
    metrics: VaultMetrics | None = None,
    stream_limits: StreamLimits = DEFAULT_STREAM_LIMITS,
    cluster_status: Callable[[], list[Any]] | None = None,
) -> tuple[grpc.Server, VaultHealth, int]:
    """Create a bound, not yet started server for ``api``.

    Args:
        api: The core use cases to serve.
        listen: ``HOST:PORT`` to bind; port 0 picks a free port. Must be loopback
            without ``tls``.
        max_message_bytes: Largest message sent or received; bigger ones fail
            with RESOURCE_EXHAUSTED.
        workers: Threads handling RPCs concurrently.
        max_enroll_bytes: Largest template payload of one Enroll stream.
        health_interval: Seconds between two health refreshes.
        key_admin: Key status and rotation to serve as ``KeyAdmin`` (None: not served).
        compliance: The audit log and consent/retention use cases to serve as
            ``AuditLog`` and ``Compliance`` (None: not served).
        tls: Server certificate, key and client CA (None: plaintext loopback
            development mode, where every caller is the local admin).
        role_map: Certificate -> roles mapping under TLS (None: the default rule).
        rate_limit: Per-client bucket for Verify/Identify (None: unlimited).
        metrics: Where RPC counts and latencies go (None: not measured).
        stream_limits: Open streams allowed in total and per caller, and their
            idle timeout (streams and health checks run on pools of their own;
            see :mod:`vault.service.streams`).
        cluster_status: Each gallery shard's status (serve --ray-address), or None.

    Returns:
        The server, its health servicer (call ``close()`` when stopping) and the
        bound port.

    Raises:
        ConfigurationError: If ``listen`` is not loopback, or cannot be bound.
    """
    if tls is None:
        require_plaintext_allowed(listen, role="listen on")
    if max_message_bytes < 1 or workers < 1:
        raise ConfigurationError("max_message_bytes and workers must be positive")
    options = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        # Without this a second server could silently share the port.
        ("grpc.so_reuseport", 0),
    ]
    executor = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="biovault-rpc")
    # Refusals are audited by the compliance use cases (vault.core.compliance), which
    # hold the audit path; without them, by the core if it records refusals itself.
    audit = next((c for c in (compliance, api) if hasattr(c, "record_refused_call")), None)
    interceptor = AuthorizationInterceptor(
        role_map=None if tls is None else (role_map or RoleMap()),
        audit=cast(RefusalAudit | None, audit),
        limiter=None if rate_limit is None else RateLimiter(rate_limit),
    )
    # On loopback plaintext every local caller is the one admin, as for the rate limit.
    scheduler = CallScheduler(
        stream_limits, caller_of=(lambda _c: "local") if tls is None else actor_of
    )
    # Metrics first, so refused calls are counted too; the scheduler last, so only
    # authorised callers take stream slots.
    interceptors: list[grpc.ServerInterceptor] = [interceptor, scheduler]
    if metrics is not None:
        interceptors.insert(0, MetricsInterceptor(metrics))
    server = grpc.server(executor, options=options, interceptors=interceptors)
    weakref.finalize(server, scheduler.close)
    add_template_vault(TemplateVaultServicer(api, max_enroll_bytes=max_enroll_bytes), server)
    admin_names = () if key_admin is None else (add_key_admin(key_admin, server),)
    transform_names = (
        (add_transform_key_admin(api, server),) if isinstance(api, TransformKeyApi) else ()
    )
    compliance_names = () if compliance is None else add_compliance_services(compliance, server)
    cluster_name = add_cluster_admin(cluster_status, server)
    try:
        if tls is None:
            port = server.add_insecure_port(listen)
        else:
            port = server.add_secure_port(listen, tls.credentials())
    except RuntimeError:  # grpc reports a failed bind as RuntimeError or as port 0
        port = 0
    if port == 0:
        server.stop(None)
        raise ConfigurationError(f"cannot listen on {listen}: address in use or unavailable")
    health_servicer = VaultHealth(api, services=(SERVICE_NAME,), interval=health_interval)
    # Tolerant decoding, as for every other service: bad bytes are INVALID_ARGUMENT.
    add_service(health_pb2, "Health", health_servicer, server)
    served = (SERVICE_NAME, *admin_names, *transform_names, *compliance_names, cluster_name)
    reflection.enable_server_reflection(
        (*served, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return server, health_servicer, port


def run(
    settings: ServeSettings,
    *,
    grace: float = DEFAULT_GRACE_SECONDS,
    stop: threading.Event | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Open the vault, serve it, and shut down gracefully on SIGTERM/SIGINT.

    Shutdown order: health turns NOT_SERVING, the server stops accepting calls and
    lets running ones finish for ``grace`` seconds, then the vault is closed.

    Args:
        settings: Start-up settings.
        grace: Seconds running calls get to finish on shutdown.
        stop: Event that ends serving when set (signals set it too).
        on_ready: Called with the bound port once the server accepts calls.

    Raises:
        ConfigurationError: If the listen address is refused (checked before the
            vault is opened) or cannot be bound.
    """
    tls = _server_tls(settings)
    role_map = RoleMap.load(settings.role_map) if settings.role_map else None
    if tls is None:
        require_plaintext_allowed(settings.listen, role="listen on")
        _log.warning(
            "no TLS options: serving plaintext on loopback %s; every local caller acts "
            "as admin (development mode)",
            settings.listen,
        )
    else:
        tls.credentials()  # fail on unreadable certificate files before opening the vault
    rate_limit = (
        RateLimit(settings.rate_limit, settings.rate_burst) if settings.rate_limit > 0 else None
    )
    from vault.service.bootstrap import open_vault_services  # wires the concrete core

    stop = stop or threading.Event()
    with (
        _stop_on_signals(stop),
        open_vault_services(settings) as services,
        contextlib.ExitStack() as exporter,
    ):
        health_ref: list[VaultHealth] = []
        # Always measured (the access log comes from it); exported only when asked.
        metrics = VaultMetrics(
            sizes=getattr(services.core, "collection_sizes", None),
            serving=lambda: bool(health_ref) and health_ref[0].serving,
            shards=getattr(services, "cluster_status", None),
        )
        server, health_servicer, port = build_server(
            services.core,
            settings.listen,
            max_message_bytes=settings.max_message_bytes,
            workers=settings.workers,
            key_admin=services.key_admin,
            compliance=getattr(services, "compliance", None),  # absent in minimal bundles
            tls=tls,
            role_map=role_map,
            rate_limit=rate_limit,
            metrics=metrics,
            cluster_status=getattr(services, "cluster_status", None),
        )
        health_ref.append(health_servicer)
        watch_readiness = getattr(services, "watch_readiness", None)
        if watch_readiness is not None:
            watch_readiness(health_servicer.refresh)
        if settings.metrics_listen:
            exporter.callback(serve_metrics(settings.metrics_listen, metrics))
            _log.info("metrics on http://%s/metrics", settings.metrics_listen)
        server.start()
        mode = "plaintext loopback development mode" if tls is None else "mutual TLS"
        _log.info("serving %s on port %d (%s)", SERVICE_NAME, port, mode)
        if on_ready is not None:
            on_ready(port)
        try:
            while not stop.wait(0.5):
                pass
        finally:
            _log.info("shutting down: draining calls for up to %.1f s", grace)
            health_servicer.close()
            server.stop(grace).wait()
            _log.info("server stopped; closing the vault")


def _server_tls(settings: ServeSettings) -> ServerTls | None:
    given = (settings.tls_cert, settings.tls_key, settings.client_ca)
    if all(path is None for path in given):
        if settings.role_map is not None:
            raise ConfigurationError("--role-map needs TLS (--tls-cert, --tls-key, --client-ca)")
        return None
    if settings.tls_cert is None or settings.tls_key is None or settings.client_ca is None:
        raise ConfigurationError("TLS needs all of --tls-cert, --tls-key and --client-ca")
    return ServerTls(settings.tls_cert, settings.tls_key, settings.client_ca)


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Let SIGTERM and SIGINT set ``stop`` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        _log.info("received %s", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
