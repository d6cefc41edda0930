"""Idle streams cannot starve the RPC threads: caps, idle timeout, health on its own pool."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2_grpc
from prometheus_client import generate_latest

from tests.service.fakes import FakeVault, served, unit_rows
from vault.api.v1 import vault_pb2, vault_pb2_grpc
from vault.client.codec import encode_templates
from vault.errors import ConfigurationError
from vault.service.metrics import MetricsInterceptor, VaultMetrics
from vault.service.streams import CallScheduler, StreamLimits
from vault.types import CollectionSpec, ProtectionMode, RequestContext, VerifyResult

DIM = 4
WORKERS = 2
LIMITS = StreamLimits(max_streams=4, per_caller=3, idle_timeout=30.0)


def _core() -> FakeVault:
    api = FakeVault()
    api.create_collection(CollectionSpec("c", ProtectionMode.CKKS, DIM), RequestContext())
    api.enroll("c", ["a"], np.ones((1, DIM), np.float32), RequestContext())
    return api


def _idle(release: threading.Event, first: Any = None) -> Iterator[Any]:
    """A request stream that sends ``first`` (if any) and then nothing until released."""
    if first is not None:
        yield first
    release.wait()


def _settle(calls: list[Any], ended: int, timeout: float = 10.0) -> list[Any]:
    """Wait until ``ended`` calls have finished; return the finished ones."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [c for c in calls if c.done()]
        if len(done) >= ended:
            time.sleep(0.2)  # would a surplus stream still end late?
            return [c for c in calls if c.done()]
        time.sleep(0.02)
    return [c for c in calls if c.done()]


def _code_and_details(call: Any) -> tuple[grpc.StatusCode, str]:
    error = call.exception() if hasattr(call, "exception") else None
    target = error if error is not None else call
    return target.code(), target.details() or ""


@pytest.mark.parametrize("kind", ["reflection", "enroll"])
def test_idle_streams_beyond_the_cap_are_refused_and_health_and_verify_answer(kind: str) -> None:
    """Four times the thread count of idle streams: the surplus gets RESOURCE_EXHAUSTED."""
    api, release = _core(), threading.Event()
    opened = 4 * WORKERS
    with served(api, workers=WORKERS, stream_limits=LIMITS) as live:
        channel = grpc.insecure_channel(live.target)
        try:
            if kind == "reflection":
                stub: Any = reflection_pb2_grpc.ServerReflectionStub(channel)
                calls = [
                    stub.ServerReflectionInfo(_idle(release), timeout=60) for _ in range(opened)
                ]
            else:
                stub = vault_pb2_grpc.TemplateVaultStub(channel)
                calls = [stub.Enroll.future(_idle(release), timeout=60) for _ in range(opened)]
            ended = _settle(calls, opened - LIMITS.per_caller)
            with live.client(timeout=5) as other:
                health = other.health_check(timeout=5)
                verified = other.verify("c", "a", np.ones((1, DIM), np.float32))
        finally:
            release.set()
            for call in calls:
                call.cancel()
            channel.close()
    assert len(ended) == opened - LIMITS.per_caller
    for call in ended:
        code, details = _code_and_details(call)
        assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "open streams, the limit per caller" in details
    assert health == "SERVING"
    assert verified.match is True


def test_an_idle_enroll_stream_is_ended_after_the_idle_timeout_and_enrolls_nothing() -> None:
    """A stream that stops sending is closed with a reason; its slot is free again."""
    api, release = _core(), threading.Event()
    limits = StreamLimits(max_streams=1, per_caller=1, idle_timeout=0.5)
    chunk = vault_pb2.EnrollRequest(
        collection="c",
        subject_ids=["b"],
        templates=encode_templates(unit_rows(np.random.default_rng(1), 1, DIM)),
    )
    with served(api, workers=WORKERS, stream_limits=limits) as live:
        channel = grpc.insecure_channel(live.target)
        try:
            stub = vault_pb2_grpc.TemplateVaultStub(channel)
            started = time.monotonic()
            stalled = stub.Enroll.future(_idle(release, chunk), timeout=30)
            error = stalled.exception(timeout=20)
            took = time.monotonic() - started
            with live.client(timeout=10) as other:
                enrolled = other.enroll("c", ["b"], unit_rows(np.random.default_rng(2), 1, DIM))
        finally:
            release.set()
            channel.close()
    assert error is not None and error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "sent nothing for 0.5 s" in error.details()
    assert took < 20  # ended by the timeout, not by the call's own deadline
    assert enrolled == 1 and api._collections["c"].ids == ["a", "b"]


class _SlowVault(FakeVault):
    """Verify blocks until released, to hold every RPC thread."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def verify(
        self, collection: str, subject_id: str, probe: np.ndarray, ctx: RequestContext
    ) -> VerifyResult:
        self.entered.release()
        self.release.wait(30)
        return super().verify(collection, subject_id, probe, ctx)


def test_health_answers_while_every_rpc_thread_is_busy() -> None:
    """Health Check runs on its own pool, so busy handlers cannot delay it."""
    api = _SlowVault()
    api.create_collection(CollectionSpec("c", ProtectionMode.CKKS, DIM), RequestContext())
    api.enroll("c", ["a"], np.ones((1, DIM), np.float32), RequestContext())
    with served(api, workers=WORKERS) as live, live.client(timeout=30) as busy:
        pool: list[threading.Thread] = []

        def call() -> Any:
            return busy.verify("c", "a", np.ones((1, DIM), np.float32))

        for _ in range(WORKERS):
            pool.append(threading.Thread(target=call, daemon=True))
            pool[-1].start()
        try:
            assert all(api.entered.acquire(timeout=10) for _ in range(WORKERS))
            with live.client(timeout=3) as probe:
                health = probe.health_check(timeout=3)
        finally:
            api.release.set()
            for thread in pool:
                thread.join(10)
    assert health == "SERVING"


@pytest.mark.parametrize(
    "limits",
    [
        {"max_streams": 0},
        {"per_caller": 0},
        {"max_streams": 2, "per_caller": 3},
        {"idle_timeout": 0.0},
    ],
)
def test_stream_limits_refuse_nonsense(limits: dict[str, Any]) -> None:
    """Caps below one, a per-caller cap above the total, or no timeout are refused."""
    with pytest.raises(ConfigurationError):
        StreamLimits(**limits)


def test_an_idle_reflection_stream_is_ended_quietly_after_the_idle_timeout(caplog) -> None:
    """The client learns why; the server logs one warning, not a failing-handler traceback."""
    release = threading.Event()
    limits = StreamLimits(max_streams=1, per_caller=1, idle_timeout=0.5)
    with served(_core(), workers=WORKERS, stream_limits=limits) as live:
        channel = grpc.insecure_channel(live.target)
        try:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            call = stub.ServerReflectionInfo(_idle(release), timeout=30)
            deadline = time.monotonic() + 20
            while not call.done() and time.monotonic() < deadline:
                time.sleep(0.02)
            code, details = _code_and_details(call)
            time.sleep(0.2)  # let the handler thread finish and log whatever it logs
        finally:
            release.set()
            channel.close()
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "ServerReflectionInfo: the stream sent nothing for 0.5 s" in details
    assert "ended an idle ServerReflectionInfo stream" in caplog.text
    assert "Exception iterating responses" not in caplog.text


def _non_blocking_watch(request: Any, context: Any, send: Any) -> None:
    """A Watch in gRPC's non-blocking style: answer through ``send`` and return at once.

    (Not grpc_health's own servicer: in grpcio-health-checking 1.85 cancelling one of
    its non-blocking watches while another sends deadlocks the server's polling
    thread, with or without interceptors.)
    """
    send(health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING))
    send(None)  # ends the call with OK


_non_blocking_watch.experimental_non_blocking = True  # type: ignore[attr-defined]


def test_non_blocking_stream_handlers_pass_the_interceptors_and_hold_no_slot() -> None:
    """Ten non-blocking Watch calls at once with one stream slot: none is refused."""
    scheduler = CallScheduler(
        StreamLimits(max_streams=1, per_caller=1), caller_of=lambda _context: "local"
    )
    metrics = VaultMetrics()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=WORKERS),
        interceptors=[MetricsInterceptor(metrics), scheduler],
    )
    handler = grpc.unary_stream_rpc_method_handler(
        _non_blocking_watch,
        request_deserializer=health_pb2.HealthCheckRequest.FromString,
        response_serializer=health_pb2.HealthCheckResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Watch": handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        watches = [stub.Watch(health_pb2.HealthCheckRequest(), timeout=10) for _ in range(10)]
        answers = [[r.status for r in w] for w in watches]
    finally:
        channel.close()
        server.stop(None).wait()
        scheduler.close()
    assert answers == [[health_pb2.HealthCheckResponse.SERVING]] * 10
    assert scheduler.open_streams() == 0
    text = generate_latest(metrics.registry).decode()
    assert (
        'biovault_requests_total{grpc_code="OK",grpc_method="Watch",'
        'grpc_service="grpc.health.v1.Health",grpc_type="server_stream"} 10.0'
    ) in text
