"""The data directory stops taking writes under a running service (a full disk, a
file-size quota): clear UNAVAILABLE, reads keep working, nothing is corrupted, and
the service recovers by itself once writes succeed again.

The limit is RLIMIT_FSIZE applied to the live ``serve`` process with prlimit: the
kernel then fails every write past the current file sizes (EFBIG), which SQLite
meets exactly where it would meet ENOSPC or a read-only remount - in the write
of a commit. Unlike a small loop-mounted file system it needs no root.
"""

from __future__ import annotations

import json
import resource

import grpc
import numpy as np
import pytest

from tests.support.service import ServiceProcess, run_cli
from tests.support.synthetic import identities
from vault.client import ClientError, VaultClient
from vault.types import CollectionSpec, ProtectionMode

DIM = 64
CONSENT = {"purpose": "access", "consent_ref": "c", "legal_basis": "consent"}


def _largest_file(service: ServiceProcess) -> int:
    files = [p for p in service.data_dir.rglob("*") if p.is_file()] + [service.log_path]
    return max(p.stat().st_size for p in files)


def test_writes_failing_mid_service_are_refused_cleanly_and_recovered(
    tmp_path, openbao_dev
) -> None:
    service = ServiceProcess(
        tmp_path / "data", tmp_path / "serve.log", vault_addr=openbao_dev.addr,
        token=openbao_dev.token,
    ).start()  # fmt: skip
    templates = identities(5000, DIM, np.random.default_rng(3)).astype(np.float32)
    first, second = list(range(20)), list(range(20, 5000))
    try:
        with VaultClient(service.target, timeout=60) as client:
            client.create_collection(
                CollectionSpec("faces", ProtectionMode.CKKS, DIM, True, ("access",))
            )
            client.enroll("faces", [f"s{r}" for r in first], templates[first], **CONSENT)
            assert service.process is not None
            pid, limit = service.process.pid, _largest_file(service) + 64 * 1024
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

            with pytest.raises(ClientError) as refused:
                client.enroll("faces", [f"s{r}" for r in second], templates[second], **CONSENT)
            assert refused.value.code is grpc.StatusCode.UNAVAILABLE
            assert "template store" in refused.value.details  # says what failed, no stack
            assert client.health_check(timeout=5) == "SERVING"
            assert client.get_collection("faces").size == len(first)  # nothing half-applied
            top = client.identify("faces", templates[first], top_k=1, purpose="access")
            assert [m[0].subject_id for m in top] == [f"s{r}" for r in first]

            resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
            client.enroll("faces", [f"s{r}" for r in second], templates[second], **CONSENT)
            assert client.get_collection("faces").size == 5000
    finally:
        assert service.stop() == 0

    env = {**service.env, "VAULT_ADDR": openbao_dev.addr, "VAULT_TOKEN": openbao_dev.token}
    checked = run_cli("fsck", "--data-dir", str(service.data_dir), "--json", "-", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["subjects"] == 5000
