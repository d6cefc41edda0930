"""A refused call says plainly which role was refused what."""

from __future__ import annotations

from tests.cli.conftest import Run
from tests.service.test_authz import _serve
from vault.cli.devcerts import write_dev_pki
from vault.service.authz import AuthorizationInterceptor, RoleMap
from vault.service.roles import Role
from vault.service.tls import ServerTls


def test_refusals_name_the_role_or_its_absence(cli: Run, tmp_path) -> None:
    """The role-less health-check certificate and a matcher both get a readable refusal."""
    pki = write_dev_pki(tmp_path, tuple(r.value for r in Role))
    tls = ServerTls(pki.server_cert, pki.server_key, pki.ca_cert)
    server, target = _serve(AuthorizationInterceptor(role_map=RoleMap()), tls)
    try:
        for holder, who in (
            ("healthcheck", "a certificate without a role"),
            ("matcher", "role matcher"),
        ):
            cert, key = pki.clients[holder]
            result = cli(
                "keys", "status", "--target", target, "--ca-file", str(pki.ca_cert),
                "--tls-cert", str(cert), "--tls-key", str(key), "--tls-server-name", "localhost",
            )  # fmt: skip
            assert result.code == 1 and result.err.count("\n") == 1, result.err
            assert f"{who} may not call" in result.err
            assert "no role may not" not in result.err
    finally:
        server.stop(None)
