"""SIGKILL during enrol and delete, restart: fsck passes and every acknowledged write holds."""

from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest

from tests.support.postgres import StoreChoice
from tests.support.service import ServiceProcess, run_cli
from tests.support.synthetic import identities
from vault.client import ClientError, VaultClient
from vault.types import CollectionSpec, ProtectionMode

DIM = 64
BATCH = 25
PURPOSE = {"purpose": "access"}


class _Workload:
    """Enrols batches and deletes acknowledged subjects until the service dies."""

    def __init__(self, target: str, templates: np.ndarray) -> None:
        self.target = target
        self.templates = templates
        self.enrolled: set[int] = set()  # acknowledged
        self.deleted: set[int] = set()  # acknowledged
        self.in_flight: set[int] = set()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = np.random.default_rng(1)
        next_row = 0
        try:
            with VaultClient(self.target, timeout=30) as client:
                while next_row + BATCH <= len(self.templates):
                    rows = list(range(next_row, next_row + BATCH))
                    self.in_flight = set(rows)
                    client.enroll(
                        "faces",
                        [f"s{r}" for r in rows],
                        self.templates[rows],
                        purpose="access",
                        consent_ref="c",
                        legal_basis="consent",
                    )
                    self.enrolled.update(rows)
                    next_row += BATCH
                    for row in rng.choice(sorted(self.enrolled - self.deleted), 3, replace=False):
                        self.in_flight = {int(row)}
                        client.delete("faces", f"s{row}", **PURPOSE)
                        self.deleted.add(int(row))
                    self.in_flight = set()
        except ClientError:
            return  # the service was killed


@pytest.mark.parametrize("kill_after", [1.5, 4.0])
def test_sigkill_mid_workload_then_restart_and_fsck(
    tmp_path, openbao_dev, kill_after, store_choice: StoreChoice
) -> None:
    """Acknowledged enrolments and erasures survive SIGKILL; fsck finds nothing wrong
    (on SQLite and on PostgreSQL)."""
    data_dir = tmp_path / "data"
    store = store_choice.args
    service = ServiceProcess(
        data_dir, tmp_path / "serve.log", vault_addr=openbao_dev.addr, token=openbao_dev.token,
        extra_args=store,
    ).start()  # fmt: skip
    templates = identities(4000, DIM, np.random.default_rng(0)).astype(np.float32)
    with VaultClient(service.target, timeout=30) as client:
        client.create_collection(
            CollectionSpec(
                "faces", ProtectionMode.CKKS, DIM, allow_identification=True, purposes=("access",)
            )
        )
    work = _Workload(service.target, templates)
    work.thread.start()
    deadline = time.monotonic() + 60  # a busy machine may be slow to the first batch
    while not work.enrolled and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(kill_after)
    assert service.process is not None
    service.process.kill()  # SIGKILL, mid-request
    service.process.wait()
    work.thread.join(timeout=30)
    assert len(work.enrolled) >= BATCH, "the workload never got going"

    env = {**service.env, "VAULT_ADDR": openbao_dev.addr, "VAULT_TOKEN": openbao_dev.token}
    before = run_cli("fsck", "--data-dir", str(data_dir), *store, "--json", "-", env=env)
    assert before.returncode == 0, before.stdout + before.stderr

    service.start()
    try:
        # A request cut off by the kill may or may not have committed: leave its
        # rows out of the exact checks and look at them as a whole below.
        present = sorted(work.enrolled - work.deleted - work.in_flight)
        with VaultClient(service.target, timeout=60) as client:
            size = client.get_collection("faces").size
            top = client.identify("faces", templates[present], top_k=1, **PURPOSE)
            for row in sorted(work.deleted)[:20]:
                with pytest.raises(ClientError):
                    client.delete("faces", f"s{row}", **PURPOSE)
        assert [m[0].subject_id for m in top] == [f"s{r}" for r in present]
        # Whatever was in flight is all there or not at all.
        assert size - len(present) in (0, len(work.in_flight))
    finally:
        assert service.stop() == 0
    after = run_cli("fsck", "--data-dir", str(data_dir), *store, "--json", "-", env=env)
    assert after.returncode == 0, after.stdout + after.stderr
    report = json.loads(after.stdout)
    assert report["ok"] and report["sealed_blocks_opened"] >= 1
    assert report["audit_entries_verified"] > len(work.enrolled) // BATCH
    assert os.path.exists(data_dir / "vault.db") == (not store)
