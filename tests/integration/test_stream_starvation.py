"""Idle streams from verified certificates cannot stop `biovault serve` (mutual TLS, 8 threads)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_reflection.v1alpha import reflection_pb2_grpc

from tests.support.service import dev_tls, mtls_service, run_cli
from tests.support.synthetic import identities, samples
from vault.api.v1 import vault_pb2_grpc
from vault.client import VaultClient
from vault.client.channel import open_channel
from vault.service.streams import DEFAULT_STREAM_LIMITS
from vault.types import CollectionSpec, ProtectionMode

DIM = 32
THREADS = 8  # serve's default --workers
PER_CALLER = DEFAULT_STREAM_LIMITS.per_caller


@pytest.fixture(scope="module")
def world(tmp_path_factory, openbao_dev):
    """A TLS-only service with one enrolled subject."""
    root = tmp_path_factory.mktemp("streams")
    pki = root / "pki"
    made = run_cli("certs", "dev", "--out", str(pki))
    assert made.returncode == 0, made.stderr
    service = mtls_service(
        root, pki, vault_addr=openbao_dev.addr, token=openbao_dev.token, workers=THREADS
    ).start()
    rng = np.random.default_rng(11)
    gallery = samples(identities(2, DIM, rng), rng).astype(np.float32)
    with VaultClient(service.target, timeout=60, tls=dev_tls(pki, "admin")) as admin:
        admin.create_collection(
            CollectionSpec("faces", ProtectionMode.CKKS, DIM, purposes=("access",))
        )
        admin.enroll(
            "faces",
            ["a", "b"],
            gallery,
            purpose="access",
            consent_ref="C-1",
            legal_basis="consent",
        )
    yield {"service": service, "pki": pki, "probe": gallery[:1]}
    service.stop()


def _idle(release: threading.Event) -> Iterator[Any]:
    release.wait()
    yield from ()


def _open(world: dict[str, Any], who: str, kind: str, count: int, release: threading.Event):
    channel = open_channel(world["service"].target, dev_tls(world["pki"], who))
    if kind == "reflection":
        stub: Any = reflection_pb2_grpc.ServerReflectionStub(channel)
        calls = [stub.ServerReflectionInfo(_idle(release), timeout=120) for _ in range(count)]
    else:
        stub = vault_pb2_grpc.TemplateVaultStub(channel)
        calls = [stub.Enroll.future(_idle(release), timeout=120) for _ in range(count)]
    return channel, calls


def _ended(calls: list[Any], expected: int) -> list[Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sum(c.done() for c in calls) < expected:
        time.sleep(0.05)
    time.sleep(0.5)  # a late refusal would show up now
    return [c for c in calls if c.done()]


def _status(call: Any) -> tuple[grpc.StatusCode, str]:
    error = call.exception() if hasattr(call, "exception") else call
    return error.code(), error.details() or ""


def _others_are_served(world: dict[str, Any]) -> tuple[str, bool]:
    pki = world["pki"]
    with VaultClient(world["service"].target, timeout=10, tls=dev_tls(pki, "healthcheck")) as probe:
        health = probe.health_check(timeout=5)
    with VaultClient(world["service"].target, timeout=10, tls=dev_tls(pki, "matcher")) as matcher:
        verified = matcher.verify("faces", "a", world["probe"], purpose="access")
    return health, verified.match


@pytest.mark.parametrize(("who", "kind"), [("healthcheck", "reflection"), ("enroller", "enroll")])
def test_more_idle_streams_than_threads_from_one_certificate_leave_the_service_up(
    world, who: str, kind: str
) -> None:
    """Three times the thread count of idle streams: health and verify still answer."""
    release, opened = threading.Event(), 3 * THREADS
    channel, calls = _open(world, who, kind, opened, release)
    try:
        ended = _ended(calls, opened - PER_CALLER)
        health, matched = _others_are_served(world)
    finally:
        release.set()
        for call in calls:
            call.cancel()
        channel.close()
    assert health == "SERVING"
    assert matched is True
    assert len(ended) == opened - PER_CALLER
    for call in ended:
        code, details = _status(call)
        assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "open streams, the limit per caller" in details


def test_the_total_stream_cap_holds_across_certificates(world) -> None:
    """Every certificate at its cap fills the total; the next stream is refused, health answers."""
    release = threading.Event()
    held = []
    callers = ("healthcheck", "enroller", "auditor", "key-officer", "matcher", "admin")
    full = DEFAULT_STREAM_LIMITS.max_streams // PER_CALLER
    try:
        for who in callers[:full]:
            channel, calls = _open(world, who, "reflection", PER_CALLER, release)
            held.append((channel, calls))
        time.sleep(0.5)
        assert not any(c.done() for _, calls in held for c in calls)
        channel, surplus = _open(world, callers[full], "reflection", 1, release)
        held.append((channel, surplus))
        ended = _ended(surplus, 1)
        health, matched = _others_are_served(world)
    finally:
        release.set()
        for channel, calls in held:
            for call in calls:
                call.cancel()
            channel.close()
    assert len(ended) == 1
    code, details = _status(ended[0])
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "open streams, its limit" in details
    assert (health, matched) == ("SERVING", True)
