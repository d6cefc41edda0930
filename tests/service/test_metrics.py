"""Prometheus metrics: counts and latency by gRPC service, method and code, refusals by
cause, gallery sizes, health, process and build; no ids."""

from __future__ import annotations

import json
import logging
import platform
import re
import threading
import time
import urllib.request
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from prometheus_client import generate_latest

import vault
from tests.service.fakes import FakeVault, free_port, served
from vault.api.v1 import vault_pb2, vault_pb2_grpc
from vault.cli.logsetup import JsonLineFormatter
from vault.client import ClientError
from vault.core.verify_budget import FailedVerifyBudget
from vault.service.metrics import VaultMetrics, serve_metrics
from vault.service.ratelimit import RateLimit
from vault.service.streams import StreamLimits
from vault.types import CollectionSpec, ProtectionMode, RequestContext, VerifyResult

SUBJECT = "alice-0042"
VERIFY = 'grpc_method="Verify",grpc_service="biovault.v1.TemplateVault"'


def _verify_labels(code: str) -> str:
    """The grpc-ecosystem labels of a unary Verify with ``code``, in exposition order."""
    return f'grpc_code="{code}",{VERIFY},grpc_type="unary"'


def _core() -> FakeVault:
    api = FakeVault()
    api.create_collection(CollectionSpec("c", ProtectionMode.CKKS, 4), RequestContext())
    api.enroll("c", [SUBJECT], np.ones((1, 4), np.float32), RequestContext())
    return api


def test_requests_are_counted_by_rpc_and_code_without_ids_or_scores() -> None:
    """A success and a refusal show up by method and code; no subject id, no score."""
    api = FakeVault()
    api.create_collection(CollectionSpec("c", ProtectionMode.CKKS, 4), RequestContext())
    api.enroll("c", [SUBJECT], np.ones((1, 4), np.float32), RequestContext())
    metrics = VaultMetrics(sizes=lambda: {"c": 1}, serving=lambda: True)
    with served(api, metrics=metrics) as live, live.client(timeout=5) as client:
        result = client.verify("c", SUBJECT, np.ones((1, 4), np.float32))
        with pytest.raises(ClientError):
            client.verify("missing", SUBJECT, np.ones((1, 4), np.float32))
    text = generate_latest(metrics.registry).decode()
    assert f"biovault_requests_total{{{_verify_labels('OK')}}} 1.0" in text
    assert f"biovault_requests_total{{{_verify_labels('NOT_FOUND')}}} 1.0" in text
    assert f"biovault_request_seconds_count{{{_verify_labels('OK')}}} 1.0" in text
    assert 'biovault_gallery_templates{collection="c"} 1.0' in text
    assert "biovault_serving 1.0" in text
    assert SUBJECT not in text
    assert result.score is not None and f"{result.score:.4f}" not in text


def test_the_exporter_serves_the_registry_over_http() -> None:
    """`serve --metrics-listen` exposes the same text on /metrics."""
    metrics = VaultMetrics(sizes=lambda: {"faces": 7})
    port = free_port()
    stop = serve_metrics(f"127.0.0.1:{port}", metrics)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            body = reply.read().decode()
    finally:
        stop()
    assert 'biovault_gallery_templates{collection="faces"} 7.0' in body


def test_the_access_log_is_structured_and_names_no_subject_or_score(caplog) -> None:
    """One JSON line per RPC with rpc, code and ms; the subject id and score appear nowhere."""
    api = FakeVault()
    api.create_collection(CollectionSpec("c", ProtectionMode.CKKS, 4), RequestContext())
    api.enroll("c", [SUBJECT], np.ones((1, 4), np.float32), RequestContext())
    caplog.set_level(logging.INFO)
    with served(api, metrics=VaultMetrics()) as live, live.client(timeout=5) as client:
        result = client.verify("c", SUBJECT, np.ones((1, 4), np.float32))
        with pytest.raises(ClientError):
            client.verify("missing", SUBJECT, np.ones((1, 4), np.float32))
    formatter = JsonLineFormatter()
    lines = [formatter.format(r) for r in caplog.records]
    access = [json.loads(x) for x in lines if '"logger": "vault.access"' in x]
    assert [(a["rpc"], a["code"]) for a in access] == [
        ("TemplateVault.Verify", "OK"),
        ("TemplateVault.Verify", "NOT_FOUND"),
    ]
    assert all(isinstance(a["ms"], float) and a["level"] == "INFO" for a in access)
    everything = "\n".join(lines)
    assert SUBJECT not in everything
    assert result.score is not None and f"{result.score:.4f}" not in everything


def test_process_platform_and_build_metrics_are_exported() -> None:
    """Resident memory, CPU, the Python platform and the build's version are scraped."""
    text = generate_latest(VaultMetrics().registry).decode()
    assert re.search(r"^process_resident_memory_bytes [0-9.e+]+$", text, re.MULTILINE)
    assert re.search(r"^process_cpu_seconds_total [0-9.e+]+$", text, re.MULTILINE)
    assert "python_info{" in text
    assert "python_gc_collections_total{" in text
    build = re.search(r"^biovault_build_info\{(.*)\} 1\.0$", text, re.MULTILINE)
    assert build is not None
    assert f'version="{vault.__version__}"' in build.group(1)
    assert f'python="{platform.python_version()}"' in build.group(1)


def test_stream_rpcs_carry_their_grpc_type() -> None:
    """An Enroll stream is counted as a client stream of its service."""
    metrics = VaultMetrics()
    with served(_core(), metrics=metrics) as live, live.client(timeout=5) as client:
        client.enroll("c", ["bob"], np.ones((1, 4), np.float32))
    text = generate_latest(metrics.registry).decode()
    assert (
        'biovault_requests_total{grpc_code="OK",grpc_method="Enroll",'
        'grpc_service="biovault.v1.TemplateVault",grpc_type="client_stream"} 1.0'
    ) in text


class _LockingVault(FakeVault):
    """Verify guarded by the core's real failed-verification budget (one failure allowed)."""

    def __init__(self) -> None:
        super().__init__()
        self.budget = FailedVerifyBudget(limit=1, cooldown=60)

    def verify(
        self, collection: str, subject_id: str, template: np.ndarray, ctx: RequestContext
    ) -> VerifyResult:
        self.budget.check(ctx.actor, collection, subject_id)
        result = super().verify(collection, subject_id, template, ctx)
        self.budget.record(ctx.actor, collection, subject_id, matched=result.match)
        return result


def _refusals(text: str, reason: str) -> float:
    found = re.search(
        rf"^biovault_refusals_total\{{{VERIFY},reason=\"{reason}\"\}} ([0-9.]+)$",
        text,
        re.MULTILINE,
    )
    return float(found.group(1)) if found else 0.0


def test_rate_limit_refusals_and_failed_verification_lockouts_are_told_apart() -> None:
    """Both answer RESOURCE_EXHAUSTED; the refusal counter names which one it was."""
    api = _LockingVault()
    api.create_collection(CollectionSpec("c", ProtectionMode.CKKS, 4), RequestContext())
    api.enroll("c", [SUBJECT], np.ones((1, 4), np.float32), RequestContext())
    wrong = -np.ones((1, 4), np.float32)
    metrics = VaultMetrics()
    limit = RateLimit(rate=0.01, burst=3)
    with served(api, metrics=metrics, rate_limit=limit) as live, live.client(timeout=5) as client:
        assert client.verify("c", SUBJECT, wrong).match is False  # the one failure
        codes = []
        for _ in range(3):  # locked out, then the bucket (3 tokens) is empty
            with pytest.raises(ClientError) as refused:
                client.verify("c", SUBJECT, wrong)
            codes.append((refused.value.code, refused.value.details))
    assert [code.name for code, _ in codes] == ["RESOURCE_EXHAUSTED"] * 3
    assert "too many failed verifications" in codes[0][1]
    assert "rate limit" in codes[2][1]
    text = generate_latest(metrics.registry).decode()
    assert _refusals(text, "failed_verify_lockout") == 2.0
    assert _refusals(text, "rate_limit") == 1.0
    assert f"biovault_requests_total{{{_verify_labels('RESOURCE_EXHAUSTED')}}} 3.0" in text


def _scraped_once(metrics: VaultMetrics, line: str) -> str:
    """The exposition text, once it holds ``line`` (or after 5 s)."""
    deadline = time.monotonic() + 5
    text = generate_latest(metrics.registry).decode()
    while line not in text and time.monotonic() < deadline:
        time.sleep(0.02)
        text = generate_latest(metrics.registry).decode()
    return text


def test_stream_limit_and_idle_refusals_are_counted_by_cause() -> None:
    """A stream over the cap and a stream ended idle each show their own cause."""
    release = threading.Event()

    def idle() -> Iterator[vault_pb2.EnrollRequest]:
        release.wait()
        yield from ()

    metrics = VaultMetrics()
    limits = StreamLimits(max_streams=1, per_caller=1, idle_timeout=0.5)
    with served(_core(), metrics=metrics, stream_limits=limits) as live:
        channel = grpc.insecure_channel(live.target)
        try:
            stub = vault_pb2_grpc.TemplateVaultStub(channel)
            held = stub.Enroll.future(idle(), timeout=30)
            time.sleep(0.2)
            surplus = stub.Enroll.future(idle(), timeout=30)
            errors = [surplus.exception(timeout=10), held.exception(timeout=10)]
        finally:
            release.set()
            channel.close()
        assert [e.code() for e in errors] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2
        enroll = 'grpc_method="Enroll",grpc_service="biovault.v1.TemplateVault"'
        idle_line = f'biovault_refusals_total{{{enroll},reason="stream_idle"}} 1.0'
        # The client has its status before the server thread has counted the call.
        text = _scraped_once(metrics, idle_line)
    assert f'biovault_refusals_total{{{enroll},reason="stream_limit"}} 1.0' in text
    assert idle_line in text
    assert f'biovault_requests_total{{grpc_code="RESOURCE_EXHAUSTED",{enroll},' in text
