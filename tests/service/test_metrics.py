"""Prometheus metrics: counts and latency by RPC and code, gallery sizes, health; no ids."""

from __future__ import annotations

import json
import logging
import urllib.request

import numpy as np
import pytest
from prometheus_client import generate_latest

from tests.service.fakes import FakeVault, free_port, served
from vault.cli.logsetup import JsonLineFormatter
from vault.client import ClientError
from vault.service.metrics import VaultMetrics, serve_metrics
from vault.types import CollectionSpec, ProtectionMode, RequestContext

SUBJECT = "alice-0042"


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
    assert 'biovault_requests_total{code="OK",rpc="TemplateVault.Verify"} 1.0' in text
    assert 'biovault_requests_total{code="NOT_FOUND",rpc="TemplateVault.Verify"} 1.0' in text
    assert 'biovault_request_seconds_count{code="OK",rpc="TemplateVault.Verify"} 1.0' in text
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
