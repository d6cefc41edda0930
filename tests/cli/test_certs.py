"""`biovault certs dev`: a development PKI whose client certificates carry their roles."""

from __future__ import annotations

import json
import stat

from cryptography import x509

from vault.cli.main import main
from vault.service.roles import Role


def test_certs_dev_writes_a_ca_a_server_and_one_client_per_role(tmp_path, capsys) -> None:
    """Every role gets a certificate with OU=role:<name>; private keys are 0600."""
    out = tmp_path / "pki"
    assert main(["certs", "dev", "--out", str(out), "--json", "-"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["clients"]) == {r.value for r in Role} | {"healthcheck"}
    for role in Role:
        cert = x509.load_pem_x509_certificate((out / f"{role.value}.pem").read_bytes())
        units = cert.subject.get_attributes_for_oid(x509.oid.NameOID.ORGANIZATIONAL_UNIT_NAME)
        assert [u.value for u in units] == [f"role:{role.value}"]
        assert stat.S_IMODE((out / f"{role.value}.key").stat().st_mode) == 0o600
    server = x509.load_pem_x509_certificate((out / "server.pem").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert not (out / "ca.key").exists()


def test_certs_dev_refuses_to_replace_a_ca_without_force(tmp_path, capsys) -> None:
    """A second run would orphan every issued certificate, so it needs --force."""
    out = tmp_path / "pki"
    assert main(["certs", "dev", "--out", str(out)]) == 0
    assert main(["certs", "dev", "--out", str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["certs", "dev", "--out", str(out), "--force"]) == 0


def test_client_certificate_without_ca_file_is_a_usage_error(capsys) -> None:
    """--tls-cert alone cannot verify the server, so the command refuses with one line."""
    code = main(["health", "--tls-cert", "x.pem", "--tls-key", "x.key"])
    assert code == 1
    assert "--ca-file" in capsys.readouterr().err


def test_certs_dev_owner_hands_every_file_to_the_container_user(tmp_path, capsys) -> None:
    """--owner UID:GID chowns the directory and every file; keys stay 0600 for that owner."""
    import os

    uid, gid = (10001, 10001) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    out = tmp_path / "pki"
    assert main(["certs", "dev", "--out", str(out), "--owner", f"{uid}:{gid}"]) == 0
    written = [out, *out.iterdir()]
    assert len(written) > 10
    for path in written:
        info = path.stat()
        assert (info.st_uid, info.st_gid) == (uid, gid), path
    assert stat.S_IMODE((out / "server.key").stat().st_mode) == 0o600
    assert main(["certs", "dev", "--out", str(out), "--force", "--owner", str(uid)]) == 0
    assert (out / "server.key").stat().st_uid == uid


def test_certs_dev_owner_must_be_numeric(tmp_path, capsys) -> None:
    """A user name or a dangling colon is a usage error, and nothing is written."""
    for owner in ("biovault", "10001:", ":10001", "-1"):
        assert main(["certs", "dev", "--out", str(tmp_path / "pki"), "--owner", owner]) == 2
    assert "UID:GID" in capsys.readouterr().err
    assert not (tmp_path / "pki").exists()


def test_the_container_user_can_read_the_key_and_nobody_else() -> None:
    """What the Dockerfile recipe needs: uid 10001 reads /certs/server.key, another uid
    cannot. (As root the check runs as those users; otherwise as the caller only.)"""
    import os
    import subprocess
    import tempfile
    from pathlib import Path

    root = os.geteuid() == 0
    uid = 10001 if root else os.getuid()
    with tempfile.TemporaryDirectory() as mount:  # under /tmp: every uid can traverse to it
        Path(mount).chmod(0o755)
        out = Path(mount) / "certs"
        assert main(["certs", "dev", "--out", str(out), "--owner", str(uid)]) == 0
        read = ["cat", str(out / "server.key")]  # a system binary: the venv may be out of reach
        as_owner = subprocess.run(read, user=uid, capture_output=True, check=False)
        assert as_owner.returncode == 0 and b"PRIVATE KEY" in as_owner.stdout, as_owner.stderr
        if root:
            other = subprocess.run(read, user=10002, capture_output=True, check=False)
            assert other.returncode != 0 and b"Permission denied" in other.stderr
