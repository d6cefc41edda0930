"""HcVaultKeyService against a real OpenBao dev server."""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path

import pytest

from tests.support.openbao import DevServer
from vault.errors import (
    ConfigurationError,
    KeyServiceError,
    KeyServiceUnavailable,
    WrappedKeyRejected,
)
from vault.keys.hcvault import HcVaultKeyService, RetryPolicy, TokenLogin


def test_generate_and_unwrap(key_service: HcVaultKeyService) -> None:
    """An unwrapped data key decrypts what the freshly generated handle encrypted."""
    fresh = key_service.generate_data_key()
    assert fresh.wrapped.startswith("vault:v1:")
    sealed = fresh.key.encrypt(b"payload", b"aad")
    unwrapped = key_service.unwrap_data_key(fresh.wrapped)
    assert unwrapped.decrypt(sealed, b"aad") == b"payload"
    assert unwrapped.key_id == fresh.key.key_id == f"transit/{key_service.kek_name}:v1"


def test_kek_version_and_rotation(key_service: HcVaultKeyService) -> None:
    """kek_version starts at 1, rotation raises it, and old wrapped keys still unwrap."""
    assert key_service.kek_version() == 1
    old = key_service.generate_data_key()
    assert key_service.rotate_kek() == 2
    assert key_service.kek_version() == 2
    assert key_service.generate_data_key().wrapped.startswith("vault:v2:")
    sealed = old.key.encrypt(b"x", b"")
    assert key_service.unwrap_data_key(old.wrapped).decrypt(sealed, b"") == b"x"


def test_ensure_transit_is_idempotent(key_service: HcVaultKeyService) -> None:
    """Calling ensure_transit again keeps the existing KEK and its versions."""
    key_service.rotate_kek()
    key_service.ensure_transit()
    assert key_service.kek_version() == 2


def test_ensure_transit_enables_a_missing_mount(openbao_dev: DevServer) -> None:
    """ensure_transit mounts Transit at a new path and creates the KEK there."""
    service = HcVaultKeyService(
        addr=openbao_dev.addr, token=openbao_dev.token, transit_mount=f"t-{uuid.uuid4().hex[:8]}"
    )
    service.ensure_transit()
    assert service.kek_version() == 1
    service.close()


def test_is_available(key_service: HcVaultKeyService, dead_addr: str) -> None:
    """is_available is True for the live server and False, without raising, for a dead port."""
    assert key_service.is_available()
    assert not HcVaultKeyService(addr=dead_addr, token="t").is_available()


def test_dead_server_is_unavailable(dead_addr: str) -> None:
    """Every operation against a dead port raises KeyServiceUnavailable."""
    # Refused connections are retried; a short backoff keeps the test quick.
    service = HcVaultKeyService(
        addr=dead_addr, token="t", timeout=2.0, retry=RetryPolicy(retries=1, base_delay=0.01)
    )
    with pytest.raises(KeyServiceUnavailable, match="connection failed"):
        service.generate_data_key()
    with pytest.raises(KeyServiceUnavailable):
        service.unwrap_data_key("vault:v1:AAAA")
    with pytest.raises(KeyServiceUnavailable):
        service.kek_version()
    with pytest.raises(KeyServiceUnavailable):
        service.ensure_transit()


def test_bad_token_is_a_key_service_error(key_service: HcVaultKeyService) -> None:
    """A wrong token raises KeyServiceError (not Unavailable) and never echoes the token."""
    bad_token = "s.not-a-real-token-" + uuid.uuid4().hex
    service = HcVaultKeyService(
        addr=key_service.addr, token=bad_token, kek_name=key_service.kek_name
    )
    wrapped = key_service.generate_data_key().wrapped
    for call in (service.generate_data_key, lambda: service.unwrap_data_key(wrapped)):
        with pytest.raises(KeyServiceError) as caught:
            call()
        assert not isinstance(caught.value, KeyServiceUnavailable)
        assert "permission denied" in str(caught.value)
        assert bad_token not in str(caught.value)


def test_tampered_wrapped_key_is_rejected(key_service: HcVaultKeyService) -> None:
    """A wrapped key altered in one character raises WrappedKeyRejected."""
    wrapped = key_service.generate_data_key().wrapped
    body = wrapped[len("vault:v1:") :]
    flipped = "B" if body[5] != "B" else "C"
    with pytest.raises(WrappedKeyRejected, match="wrapped key rejected"):
        key_service.unwrap_data_key("vault:v1:" + body[:5] + flipped + body[6:])
    with pytest.raises(WrappedKeyRejected):
        key_service.unwrap_data_key("vault:v9:" + body)


@pytest.mark.parametrize("wrapped", ["", "garbage", "vault:v0:AAAA", "vault:v1:", "vault:v1:a b"])
def test_malformed_wrapped_key_is_rejected_locally(wrapped: str, dead_addr: str) -> None:
    """A string that is not a Transit ciphertext is rejected before any request."""
    with pytest.raises(WrappedKeyRejected):
        HcVaultKeyService(addr=dead_addr, token="t").unwrap_data_key(wrapped)


def test_missing_kek_is_a_key_service_error(openbao_dev: DevServer) -> None:
    """Unwrapping with a KEK that does not exist is a KeyServiceError, not a rejected key."""
    service = HcVaultKeyService(
        addr=openbao_dev.addr, token=openbao_dev.token, kek_name=f"absent-{uuid.uuid4().hex[:8]}"
    )
    with pytest.raises(KeyServiceError) as caught:
        service.unwrap_data_key("vault:v1:" + "A" * 80)
    assert not isinstance(caught.value, WrappedKeyRejected | KeyServiceUnavailable)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"addr": "vault.example:8200", "token": "t"}, "must look like"),
        ({"addr": "http://10.0.0.5:8200", "token": "t"}, "plain http"),
        ({"addr": "https://v:8200"}, "exactly one"),
        ({"addr": "https://v:8200", "token": "t", "login": TokenLogin("t")}, "exactly one"),
        ({"addr": "https://v:8200", "token": " "}, "empty"),
        ({"addr": "https://v:8200", "token": "t", "kek_name": "../x"}, "KEK name"),
        ({"addr": "https://v:8200", "token": "t", "transit_mount": "a b"}, "mount"),
        ({"addr": "https://v:8200", "token": "t", "timeout": 0}, "timeout"),
    ],
)
def test_bad_settings_are_configuration_errors(kwargs: dict[str, object], message: str) -> None:
    """Malformed or unsafe settings raise ConfigurationError at construction."""
    with pytest.raises(ConfigurationError, match=message):
        HcVaultKeyService(**kwargs)  # type: ignore[arg-type]


def test_insecure_http_needs_explicit_opt_in() -> None:
    """Plain http to a remote host is accepted only with allow_insecure_http."""
    service = HcVaultKeyService(addr="http://10.0.0.5:8200", token="t", allow_insecure_http=True)
    assert service.addr == "http://10.0.0.5:8200"


def test_reprs_hide_the_token(key_service: HcVaultKeyService, openbao_dev: DevServer) -> None:
    """Neither the service, the login nor the dev-server record shows the token."""
    assert openbao_dev.token not in repr(key_service)
    assert openbao_dev.token not in repr(TokenLogin(openbao_dev.token))
    assert openbao_dev.token not in repr(openbao_dev)


def test_no_secrets_in_logs(
    key_service: HcVaultKeyService, openbao_dev: DevServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Even at DEBUG, key operations log neither the token nor anything shaped like a key."""
    caplog.set_level(logging.DEBUG)
    fresh = key_service.generate_data_key()
    key_service.unwrap_data_key(fresh.wrapped)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert openbao_dev.token not in text
    assert re.search(r"[A-Za-z0-9+/]{43}=", text) is None  # base64 of 32 key bytes


def test_missing_ca_file_is_a_configuration_error(tmp_path: Path) -> None:
    """A CA file that does not exist is refused at construction, not at the first call."""
    with pytest.raises(ConfigurationError, match="CA file"):
        HcVaultKeyService(addr="https://v:8200", token="t", ca_file=str(tmp_path / "ca.pem"))
