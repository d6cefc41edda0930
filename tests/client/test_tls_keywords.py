"""TLS by keyword (ca_file=, cert_file=, key_file=) over real mutual TLS; plaintext on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.service.fakes import FakeVault, Served, served, unit_rows
from tests.support.service import run_cli
from vault.client import ClientError, ClientTls, ComplianceClient, KeyAdminClient, VaultClient
from vault.errors import ConfigurationError
from vault.service.tls import ServerTls
from vault.types import CollectionSpec, ProtectionMode, RequestContext

DIM = 8


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A development CA with one client certificate per role (`biovault certs dev`)."""
    out = tmp_path_factory.mktemp("pki")
    made = run_cli("certs", "dev", "--out", str(out))
    assert made.returncode == 0, made.stderr
    return out


@pytest.fixture(scope="module")
def mtls(pki: Path) -> Iterator[Served]:
    """The fake core behind a mutual-TLS server, with one enrolled subject."""
    fake = FakeVault()
    fake.create_collection(CollectionSpec("c", ProtectionMode.CKKS, DIM), RequestContext())
    fake.enroll("c", ["a"], unit_rows(np.random.default_rng(5), 1, DIM), RequestContext())
    tls = ServerTls(pki / "server.pem", pki / "server.key", pki / "ca.pem")
    with served(fake, health_interval=0.05, tls=tls) as live:
        yield live


def _files(pki: Path, role: str) -> dict[str, Path]:
    return {
        "ca_file": pki / "ca.pem",
        "cert_file": pki / f"{role}.pem",
        "key_file": pki / f"{role}.key",
    }


def test_matcher_certificate_by_keywords_verifies(mtls: Served, pki: Path) -> None:
    """ca_file/cert_file/key_file (str or Path) reach the service; the role decides the rest."""
    probe = mtls.api._collections["c"].rows[0]
    files = {k: str(v) for k, v in _files(pki, "matcher").items()}
    with VaultClient(mtls.target, timeout=10, **files) as vc:
        assert vc.verify("c", "a", probe).match is True
        with pytest.raises(ClientError) as refused:
            vc.delete("c", "a")  # an enroller's call
    assert refused.value.code.name == "PERMISSION_DENIED"
    assert mtls.api._collections["c"].ids == ["a"]


def test_officer_and_auditor_clients_take_the_same_keywords(mtls: Served, pki: Path) -> None:
    """KeyAdminClient and ComplianceClient connect by the same keywords (this fake serves
    neither service, so the call gets past the handshake and authorisation to UNIMPLEMENTED)."""
    officer_files, auditor_files = _files(pki, "key-officer"), _files(pki, "auditor")
    with (
        KeyAdminClient(mtls.target, timeout=10, **officer_files) as keys,
        pytest.raises(ClientError) as officer,
    ):
        keys.status()
    with (
        ComplianceClient(mtls.target, timeout=10, **auditor_files) as audit,
        pytest.raises(ClientError) as auditor,
    ):
        audit.public_key()
    assert officer.value.code.name == auditor.value.code.name == "UNIMPLEMENTED"


def test_without_a_client_certificate_the_handshake_fails(mtls: Served, pki: Path) -> None:
    """ca_file alone is TLS without a client certificate: the mutual-TLS service refuses it."""
    with (
        VaultClient(mtls.target, timeout=5, ca_file=pki / "ca.pem") as vc,
        pytest.raises(ClientError) as refused,
    ):
        vc.get_collection("c")
    assert refused.value.code.name == "UNAVAILABLE"


def test_plaintext_to_a_tls_service_fails(mtls: Served) -> None:
    """No keywords on loopback is plaintext, which a TLS service does not speak."""
    with VaultClient(mtls.target, timeout=5) as vc, pytest.raises(ClientError) as refused:
        vc.get_collection("c")
    assert refused.value.code.name == "UNAVAILABLE"


@pytest.mark.parametrize("target", ["10.1.2.3:50051", "vault.example:50051", "[2001:db8::1]:1"])
def test_plaintext_is_refused_off_loopback(target: str) -> None:
    """Without ca_file, a non-loopback target is refused before anything is sent."""
    for client in (VaultClient, KeyAdminClient, ComplianceClient):
        with pytest.raises(ConfigurationError, match="without TLS"):
            client(target)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cert_file": "c.pem", "key_file": "c.key"}, "need ca_file"),
        ({"server_name": "vault.example"}, "need ca_file"),
        ({"ca_file": "CA", "cert_file": "c.pem"}, "both"),
        ({"ca_file": "CA", "key_file": "c.key"}, "both"),
        ({"ca_file": "missing.pem"}, "cannot read CA file"),
        ({"ca_file": "NOTPEM"}, "not a PEM file"),
    ],
)
def test_bad_tls_keywords_are_configuration_errors(
    tmp_path: Path, pki: Path, kwargs: dict[str, str], message: str
) -> None:
    """Incomplete or unreadable TLS settings fail with one clear ConfigurationError."""
    (tmp_path / "notpem").write_text("hello")
    paths = {"CA": str(pki / "ca.pem"), "NOTPEM": str(tmp_path / "notpem")}
    resolved = {k: paths.get(v, str(tmp_path / v)) for k, v in kwargs.items()}
    if "server_name" in kwargs:
        resolved["server_name"] = kwargs["server_name"]
    with pytest.raises(ConfigurationError, match=message):
        VaultClient("127.0.0.1:1", **resolved)  # type: ignore[arg-type]


def test_tls_value_and_file_keywords_do_not_mix(pki: Path) -> None:
    """tls= (one ClientTls) or the file keywords, not both."""
    tls = ClientTls(pki / "ca.pem")
    with pytest.raises(ConfigurationError, match="not both"):
        VaultClient("127.0.0.1:1", tls=tls, ca_file=pki / "ca.pem")
