"""The embedded OpenBao of a live `biovault serve` is supervised: killed, it is reaped
(no zombie), restarted from its storage and unsealed, and the service is SERVING again
and answers calls that need Vault - without a service restart."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np

from tests.support.service import ServiceProcess, run_cli
from tests.support.synthetic import identities
from vault.client import VaultClient

#: Correctness bounds (it must recover, and stop), not speed targets.
RECOVERY_BOUND_SECONDS = 60.0
EXIT_BOUND_SECONDS = 30.0
PURPOSE = {"purpose": "access", "consent_ref": "c-1", "legal_basis": "consent"}


def _bao_children(pid: int) -> dict[int, str]:
    """Children of ``pid`` running `bao`, with their process state (Z = zombie)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")[0].decode()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and os.path.basename(cmdline).startswith("bao"):
            found[int(entry.name)] = fields[0]
    return found


def _create(service: ServiceProcess, name: str) -> int:
    return run_cli(
        "collection", "create", "--target", service.target, "--name", name, "--mode", "ckks",
        "--dim", "32", "--allow-identification", "--purposes", "access",
    ).returncode  # fmt: skip


def test_a_killed_embedded_openbao_is_restarted_and_unsealed(tmp_path: Path) -> None:
    """SIGKILL the embedded bao: a new one comes up unsealed, the old one is reaped, the
    service is SERVING, verifies, and creates a collection (a Vault round trip)."""
    service = ServiceProcess(tmp_path / "data", tmp_path / "serve.log", vault_addr=None, token=None)
    service.start()
    assert service.process is not None
    serve = service.process.pid
    rows = identities(4, 32, np.random.default_rng(3)).astype(np.float32)
    running: list[int] = []
    try:
        assert _create(service, "c") == 0
        with VaultClient(service.target, timeout=60) as client:
            assert client.enroll("c", ["a", "b", "c", "d"], rows, **PURPOSE) == 4
        (old,) = _bao_children(serve)
        killed_at = time.monotonic()
        os.kill(old, signal.SIGKILL)

        deadline = killed_at + RECOVERY_BOUND_SECONDS
        while True:
            children = _bao_children(serve)
            running = [pid for pid, state in children.items() if pid != old and state != "Z"]
            if running and run_cli("health", "--target", service.target).returncode == 0:
                break
            assert time.monotonic() < deadline, (
                f"no unsealed OpenBao {RECOVERY_BOUND_SECONDS:.0f} s after the kill: "
                f"{children}\n{service.log_path.read_text()[-2000:]}"
            )
            time.sleep(0.2)
        recovered = time.monotonic() - killed_at
        assert old not in _bao_children(serve)  # reaped, not left as a zombie
        assert _create(service, "d") == 0  # needs Vault: unwrapping and wrapping keys
        with VaultClient(service.target, timeout=60) as client:
            assert client.verify("c", "b", rows[1], purpose="access").match
        print(f"embedded OpenBao killed -> SERVING again in {recovered:.2f} s")
        assert "restarted and unsealed" in service.log_path.read_text()
    finally:
        code = service.stop(timeout=EXIT_BOUND_SECONDS)
    assert code == 0, service.log_path.read_text()[-3000:]
    for pid in running:  # the restarted server stopped with the service
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
