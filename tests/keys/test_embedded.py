"""EmbeddedOpenBao: the persistent development key server run as a child process."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from vault.errors import ConfigurationError
from vault.keys.hcvault import EmbeddedOpenBao, HcVaultKeyService


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_restart_keeps_keys(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A data key wrapped before stop() unwraps after a restart on the same directory."""
    caplog.set_level(logging.INFO, logger="vault.keys.embedded")
    bao = EmbeddedOpenBao(tmp_path)
    old_umask = os.umask(0)  # secrets must be private whatever the umask
    try:
        addr, token = bao.start()
    finally:
        os.umask(old_umask)
    first_pid = bao.pid
    assert first_pid is not None
    keys = HcVaultKeyService(addr=addr, token=token)
    fresh = keys.generate_data_key()
    sealed = fresh.key.encrypt(b"ckks secret", b"aad")
    keys.close()

    home = tmp_path / "openbao"
    assert (home / "init.json").stat().st_mode & 0o777 == 0o600
    assert home.stat().st_mode & 0o777 == 0o700
    assert token not in (home / "openbao.log").read_text()
    assert "development only" in caplog.text

    bao.stop()
    assert _process_gone(first_pid)
    bao.stop()  # idempotent

    with EmbeddedOpenBao(tmp_path) as again:
        assert (again.addr, again.token) == (addr, token)
        assert again.pid != first_pid
        keys = HcVaultKeyService(addr=again.addr, token=again.token)
        assert keys.unwrap_data_key(fresh.wrapped).decrypt(sealed, b"aad") == b"ckks secret"
        assert keys.kek_version() == 1
        keys.close()
        with pytest.raises(ConfigurationError, match="in use"):
            EmbeddedOpenBao(tmp_path).start()
        second_pid = again.pid
    assert second_pid is not None and _process_gone(second_pid)


def test_data_without_init_json_is_refused(tmp_path: Path) -> None:
    """Raft data with no init.json raises ConfigurationError and deletes nothing."""
    raft = tmp_path / "openbao" / "raft"
    raft.mkdir(parents=True)
    (raft / "vault.db").write_bytes(b"precious")
    with pytest.raises(ConfigurationError, match=r"init\.json"):
        EmbeddedOpenBao(tmp_path).start()
    assert (raft / "vault.db").read_bytes() == b"precious"


def test_init_json_without_data_is_refused(tmp_path: Path) -> None:
    """An init.json without storage is not overwritten by a fresh initialisation."""
    home = tmp_path / "openbao"
    home.mkdir()
    (home / "init.json").write_text('{"unseal_key_b64": "x", "root_token": "y"}')
    with pytest.raises(ConfigurationError, match="storage is empty"):
        EmbeddedOpenBao(tmp_path).start()
    assert "root_token" in (home / "init.json").read_text()


def test_unrunnable_binary_is_a_configuration_error(tmp_path: Path) -> None:
    """A bao path that cannot be executed raises ConfigurationError and leaves no child."""
    bao = EmbeddedOpenBao(tmp_path, binary=str(tmp_path / "no-such-bao"))
    with pytest.raises(ConfigurationError, match="cannot run"):
        bao.start()
    assert bao.pid is None
