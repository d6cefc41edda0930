"""`biovault serve` with mutual TLS and roles, driven by the CLI with per-role certificates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support.service import ServiceProcess, run_cli
from tests.support.synthetic import identities, samples
from vault.client import ClientTls

DIM = 64


def _as(pki: Path, role: str) -> tuple[str, ...]:
    return (
        "--ca-file",
        str(pki / "ca.pem"),
        "--tls-cert",
        str(pki / f"{role}.pem"),
        "--tls-key",
        str(pki / f"{role}.key"),
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory, openbao_dev):
    """A TLS-only service with one small collection."""
    root = tmp_path_factory.mktemp("mtls")
    pki = root / "pki"
    made = run_cli("certs", "dev", "--out", str(pki))
    assert made.returncode == 0, made.stderr
    tls_args = (
        "--tls-cert",
        str(pki / "server.pem"),
        "--tls-key",
        str(pki / "server.key"),
        "--client-ca",
        str(pki / "ca.pem"),
    )
    service = ServiceProcess(
        root / "data",
        root / "serve.log",
        vault_addr=openbao_dev.addr,
        token=openbao_dev.token,
        extra_args=tls_args,
        tls=ClientTls(pki / "ca.pem", pki / "healthcheck.pem", pki / "healthcheck.key"),
    ).start()
    rng = np.random.default_rng(7)
    gallery = samples(identities(3, DIM, rng), rng).astype(np.float32)
    np.save(root / "gallery.npy", gallery)
    np.save(root / "probe.npy", gallery[:1])
    (root / "ids.txt").write_text("a\nb\nc\n")
    target = ("--target", service.target)
    created = run_cli(
        "collection",
        "create",
        *target,
        *_as(pki, "admin"),
        "--name",
        "faces",
        "--mode",
        "ckks",
        "--dim",
        str(DIM),
        "--purposes",
        "access",
    )
    assert created.returncode == 0, created.stderr
    yield {"service": service, "pki": pki, "root": root, "target": target}
    service.stop()


def _enroll(world, role: str):
    root = world["root"]
    return run_cli(
        "enroll",
        *world["target"],
        *_as(world["pki"], role),
        "--collection",
        "faces",
        "--templates",
        str(root / "gallery.npy"),
        "--ids",
        str(root / "ids.txt"),
        "--purpose",
        "access",
        "--consent-ref",
        "c",
        "--legal-basis",
        "consent",
    )


def _verify(world, role: str):
    return run_cli(
        "verify",
        *world["target"],
        *_as(world["pki"], role),
        "--collection",
        "faces",
        "--id",
        "a",
        "--template",
        str(world["root"] / "probe.npy"),
        "--purpose",
        "access",
        "--json",
        "-",
    )


def test_roles_are_enforced_end_to_end_and_refusals_are_audited(world) -> None:
    """Enroller enrols, matcher verifies; the other way round is refused and logged."""
    assert _enroll(world, "enroller").returncode == 0
    verified = _verify(world, "matcher")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["match"] is True
    refused = _verify(world, "enroller")
    assert refused.returncode == 1
    assert "PERMISSION_DENIED" in refused.stderr
    assert refused.stderr.count("\n") == 1
    bundle = world["root"] / "bundle"
    exported = run_cli(
        "audit", "export", *world["target"], *_as(world["pki"], "auditor"), "--out", str(bundle)
    )
    assert exported.returncode == 0, exported.stderr
    text = "".join(p.read_text(errors="replace") for p in bundle.iterdir() if p.is_file())
    assert "access.refused" in text
    assert "CN=biovault-enroller" in text


def test_health_needs_a_certificate_but_no_role(world) -> None:
    """The role-less health-check certificate gets SERVING; no certificate gets nothing."""
    pki = world["pki"]
    ok = run_cli("health", *world["target"], *_as(pki, "healthcheck"))
    assert ok.returncode == 0, ok.stderr
    bare = run_cli("health", *world["target"], "--ca-file", str(pki / "ca.pem"), "--timeout", "3")
    assert bare.returncode == 1
    plain = run_cli("health", *world["target"], "--timeout", "3")
    assert plain.returncode == 1


def test_serve_refuses_a_public_address_without_tls(tmp_path) -> None:
    """Plaintext on a non-loopback address stops start-up with one line."""
    done = run_cli("serve", "--data-dir", str(tmp_path / "d"), "--listen", "0.0.0.0:0")
    assert done.returncode == 1
    assert "without TLS" in done.stderr
