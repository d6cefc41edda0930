"""EmbeddedOpenBao.supervise(): a server that dies is reaped, restarted and unsealed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from vault.keys.hcvault import EmbeddedOpenBao, HcVaultKeyService


def _state(pid: int) -> str | None:
    """The process state letter of ``pid`` (Z = zombie), or None if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _wait_for_restart(bao: EmbeddedOpenBao, restarts: int, keys: HcVaultKeyService) -> int:
    deadline = time.monotonic() + 60  # a correctness bound: it must come back
    while True:
        pid = bao.pid
        if bao.restarts == restarts and pid is not None and keys.is_available():
            return pid
        assert time.monotonic() < deadline, "the supervised OpenBao did not come back"
        time.sleep(0.1)


def test_a_killed_server_is_restarted_unsealed_and_reaped(tmp_path: Path) -> None:
    """Two kills, two restarts: keys wrapped before unwrap after; no zombie; stop() ends it."""
    bao = EmbeddedOpenBao(tmp_path)
    addr, token = bao.start()
    bao.supervise(backoff=0.2)
    keys = HcVaultKeyService(addr=addr, token=token)
    try:
        fresh = keys.generate_data_key()
        sealed = fresh.key.encrypt(b"ckks secret", b"aad")
        pid = bao.pid
        assert pid is not None
        for restarts in (1, 2):
            os.kill(pid, signal.SIGKILL)
            new = _wait_for_restart(bao, restarts, keys)
            assert new != pid
            assert _state(pid) is None  # reaped by the supervisor, not a zombie
            assert keys.unwrap_data_key(fresh.wrapped).decrypt(sealed, b"aad") == b"ckks secret"
            pid = new
    finally:
        keys.close()
        bao.stop()
    assert _state(pid) in (None, "Z")
    time.sleep(1.0)
    assert bao.pid is None  # the supervisor did not start another after stop()
