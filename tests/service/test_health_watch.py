"""Health.Watch streams status changes, through the interceptors the real server uses,
without holding the threads that serve RPCs (gRPC client-side health checking)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.service.fakes import FakeVault, Served, served
from vault.service.metrics import VaultMetrics

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _watch(channel: grpc.Channel, service: str = "") -> tuple[queue.Queue, grpc.Future]:
    """Open a Watch stream; its statuses (or its final error) arrive on the queue."""
    statuses: queue.Queue = queue.Queue()
    stream = health_pb2_grpc.HealthStub(channel).Watch(
        health_pb2.HealthCheckRequest(service=service), timeout=30
    )

    def pump() -> None:
        try:
            for response in stream:
                statuses.put(response.status)
            statuses.put("END")
        except grpc.RpcError as error:
            statuses.put(error.code())

    threading.Thread(target=pump, daemon=True).start()
    return statuses, stream


@pytest.fixture(params=["bare", "with-metrics"])
def live(request: pytest.FixtureRequest) -> Iterator[tuple[FakeVault, Served]]:
    """A served fake core, with and without the metrics interceptor of `serve`."""
    fake = FakeVault()
    extra = {"metrics": VaultMetrics()} if request.param == "with-metrics" else {}
    with served(fake, health_interval=60.0, **extra) as running:
        yield fake, running


def test_watch_streams_every_change(live: tuple[FakeVault, Served]) -> None:
    """Watch answers SERVING at once, then NOT_SERVING and SERVING as the core changes."""
    fake, running = live
    with grpc.insecure_channel(running.target) as channel:
        statuses, stream = _watch(channel)
        assert statuses.get(timeout=10) == SERVING
        fake.serving = False
        running.health.refresh()
        assert statuses.get(timeout=10) == NOT_SERVING
        fake.serving = True
        running.health.refresh()
        assert statuses.get(timeout=10) == SERVING
        stream.cancel()


def test_watchers_do_not_take_the_rpc_threads(live: tuple[FakeVault, Served]) -> None:
    """With more open Watch streams than RPC threads, Check still answers."""
    _, running = live
    with grpc.insecure_channel(running.target) as channel:
        streams = [_watch(channel) for _ in range(6)]  # the fixture serves with 4 RPC threads
        for statuses, _ in streams:
            assert statuses.get(timeout=10) == SERVING
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
        assert answer.status == SERVING
        for _, stream in streams:
            stream.cancel()


def test_watch_ends_with_not_serving_on_shutdown() -> None:
    """Closing health (server shutdown) sends NOT_SERVING to every watcher, then ends
    the stream, so open watchers do not hold shutdown for the grace period."""
    fake = FakeVault()
    with (
        served(fake, health_interval=60.0) as running,
        grpc.insecure_channel(running.target) as channel,
    ):
        statuses, _ = _watch(channel)
        assert statuses.get(timeout=10) == SERVING
        running.health.close()
        assert statuses.get(timeout=10) == NOT_SERVING
        assert statuses.get(timeout=10) == "END"
