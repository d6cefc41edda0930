"""AppRole login, token renewal at half TTL and re-login, on the real OpenBao dev server."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hvac
import pytest

from tests.support.openbao import DevServer
from vault.errors import ConfigurationError, KeyServiceError, KeyServiceUnavailable
from vault.keys.hcvault import AppRoleLogin, HcVaultKeyService

_POLICY = """
path "transit/keys/{kek}" {{ capabilities = ["read"] }}
path "transit/datakey/plaintext/{kek}" {{ capabilities = ["update"] }}
path "transit/decrypt/{kek}" {{ capabilities = ["update"] }}
"""


@dataclass(frozen=True)
class Role:
    mount: str
    kek: str
    role_id: str
    root: hvac.Client

    def secret_id(self) -> str:
        response = self.root.auth.approle.generate_secret_id(self.kek, mount_point=self.mount)
        return str(response["data"]["secret_id"])


def _role(openbao_dev: DevServer, *, ttl: str, max_ttl: str, uses: int = 0) -> Role:
    root = hvac.Client(url=openbao_dev.addr, token=openbao_dev.token)
    kek = f"approle-kek-{uuid.uuid4().hex[:10]}"
    mount = f"approle-{uuid.uuid4().hex[:10]}"
    operator = HcVaultKeyService(addr=openbao_dev.addr, token=openbao_dev.token, kek_name=kek)
    operator.ensure_transit()  # the mount (if missing) and a non-exportable KEK
    operator.close()
    root.sys.enable_auth_method("approle", path=mount)
    root.sys.create_or_update_policy(kek, _POLICY.format(kek=kek))
    root.auth.approle.create_or_update_approle(
        kek,
        token_policies=[kek],
        token_ttl=ttl,
        token_max_ttl=max_ttl,
        secret_id_num_uses=uses,
        mount_point=mount,
    )
    role_id = root.auth.approle.read_role_id(kek, mount_point=mount)["data"]["role_id"]
    return Role(mount, kek, str(role_id), root)


@pytest.fixture
def short_role(openbao_dev: DevServer) -> Iterator[Role]:
    """An AppRole whose tokens live 2 s and can be renewed up to 4 s in total."""
    role = _role(openbao_dev, ttl="2s", max_ttl="4s", uses=1)
    yield role
    role.root.adapter.close()


def _service(openbao_dev: DevServer, role: Role, secret_file: Path) -> HcVaultKeyService:
    login = AppRoleLogin(role.role_id, secret_id_file=secret_file, mount=role.mount)
    return HcVaultKeyService(addr=openbao_dev.addr, login=login, kek_name=role.kek)


def test_approle_login_wraps_and_unwraps(
    openbao_dev: DevServer, short_role: Role, tmp_path: Path
) -> None:
    """A role id + secret id file give a working, short-lived token."""
    secret_file = tmp_path / "secret-id"
    secret_file.write_text(short_role.secret_id() + "\n")
    service = _service(openbao_dev, short_role, secret_file)
    fresh = service.generate_data_key()
    assert service.unwrap_data_key(fresh.wrapped).decrypt(fresh.key.encrypt(b"x", b""), b"") == b"x"
    lease = service.token_lease()
    assert lease is not None and lease.ttl == 2 and lease.renewable
    assert service.auth_method == "approle" and service.is_available()
    service.close()


def test_token_is_renewed_then_replaced_by_a_new_login(
    openbao_dev: DevServer, short_role: Role, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With no calls at all, the renewal thread renews the token at half its TTL, then
    logs in again (with the secret id file's new single-use content) before the max
    TTL ends it; calls keep working throughout."""
    caplog.set_level(logging.INFO, logger="vault.keys.hcvault")
    secret_file = tmp_path / "secret-id"
    secret_file.write_text(short_role.secret_id())
    service = _service(openbao_dev, short_role, secret_file)
    service.kek_version()
    secret_file.write_text(short_role.secret_id())  # the agent delivers the next secret id
    service.start_token_renewal()

    def count(text: str) -> int:
        return sum(text in record.getMessage() for record in caplog.records)

    def eventually(condition, timeout: float = 15.0) -> bool:
        # Poll instead of sleeping a fixed time: on a loaded 2-core CI machine the
        # renewal thread can run a few seconds late.
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.1)
        return condition()

    assert eventually(lambda: count("renewed the key service token") >= 1)
    assert eventually(lambda: count("logged in to the key service (approle)") >= 2)
    assert service.kek_version() == 1 and service.is_available()
    service.close()


def test_an_expired_token_is_replaced_on_demand(
    openbao_dev: DevServer, short_role: Role, tmp_path: Path
) -> None:
    """Without the renewal thread, a call after expiry logs in again and succeeds."""
    secret_file = tmp_path / "secret-id"
    secret_file.write_text(short_role.secret_id())
    service = _service(openbao_dev, short_role, secret_file)
    service.kek_version()
    secret_file.write_text(short_role.secret_id())
    time.sleep(2.3)
    assert service.kek_version() == 1
    service.close()


def test_refused_credentials_are_a_clear_error_without_secrets(
    openbao_dev: DevServer, short_role: Role, tmp_path: Path
) -> None:
    """A wrong secret id is a KeyServiceError (not an outage) naming the login step;
    a missing secret id file is a ConfigurationError."""
    secret_file = tmp_path / "secret-id"
    wrong = str(uuid.uuid4())
    secret_file.write_text(wrong)
    service = _service(openbao_dev, short_role, secret_file)
    with pytest.raises(KeyServiceError) as caught:
        service.generate_data_key()
    assert not isinstance(caught.value, KeyServiceUnavailable)
    assert "log in" in str(caught.value)
    assert wrong not in str(caught.value) and short_role.role_id not in str(caught.value)
    assert not service.is_available()
    service.close()
    missing = AppRoleLogin(short_role.role_id, secret_id_file=tmp_path / "absent")
    with pytest.raises(ConfigurationError, match="secret id file"):
        missing.check()
    with pytest.raises(ConfigurationError, match="role id"):
        AppRoleLogin("  ", secret_id_file=secret_file)
    assert wrong not in repr(AppRoleLogin(short_role.role_id, secret_id_file=secret_file))
