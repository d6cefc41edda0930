"""Outage behaviour of a live `biovault serve` when its OpenBao goes away and returns.

The key server is a real raft-backed OpenBao (``EmbeddedOpenBao``) run by the test,
so it can be stopped, restarted, sealed and unsealed under the service:

* down or sealed -> health NOT_SERVING; calls that need Vault (create a collection,
  key status) fail with UNAVAILABLE and a message that says why;
* identify and enroll keep working with the keys already in memory;
* once OpenBao is back, the service reports SERVING again by itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hvac
import numpy as np
import pytest

from tests.support.service import ServiceProcess, cli_json, run_cli
from tests.support.synthetic import identities
from vault.keys.hcvault import EmbeddedOpenBao
from vault.keys.hcvault._devstate import InitSecrets

DIM = 32
PURPOSE = ("--purpose", "access")


def _health(service: ServiceProcess, *, wait: float) -> int:
    return run_cli("health", "--target", service.target, "--wait", str(wait)).returncode


def _wait_not_serving(service: ServiceProcess) -> None:
    # `health --wait` waits for SERVING; poll the other way round ourselves.
    import time

    deadline = time.monotonic() + 20
    while _health(service, wait=0) == 0:
        assert time.monotonic() < deadline, "health never turned NOT_SERVING"
        time.sleep(0.3)


def _create(service: ServiceProcess, name: str) -> object:
    return run_cli(
        "collection", "create", "--target", service.target, "--name", name,
        "--mode", "ckks", "--dim", str(DIM), "--allow-identification", "--purposes", "access",
    )  # fmt: skip


@pytest.fixture
def bao(tmp_path: Path) -> Iterator[EmbeddedOpenBao]:
    """A real raft-backed OpenBao, owned by the test (not by the service)."""
    server = EmbeddedOpenBao(tmp_path / "keyserver")
    server.start()
    yield server
    server.stop()


def test_the_service_rides_out_an_openbao_outage(tmp_path: Path, bao: EmbeddedOpenBao) -> None:
    """Stop, restart, seal and unseal OpenBao under a serving vault."""
    templates = identities(20, DIM, np.random.default_rng(4)).astype(np.float32)
    np.save(tmp_path / "t.npy", templates)
    (tmp_path / "ids.txt").write_text("".join(f"p{i}\n" for i in range(20)))
    np.save(tmp_path / "more.npy", identities(5, DIM, np.random.default_rng(5)).astype(np.float32))
    (tmp_path / "more.txt").write_text("".join(f"q{i}\n" for i in range(5)))
    token = bao.token
    service = ServiceProcess(
        tmp_path / "data", tmp_path / "serve.log", vault_addr=bao.addr, token=token
    ).start()
    target = ("--target", service.target)
    query = ("identify", *target, "--collection", "c", "--templates", str(tmp_path / "t.npy"),
             "--top-k", "2", *PURPOSE)  # fmt: skip
    try:
        assert _create(service, "c").returncode == 0
        assert _create(service, "c2").returncode == 0
        enrolled = run_cli(
            "enroll", *target, "--collection", "c", "--templates", str(tmp_path / "t.npy"),
            "--ids", str(tmp_path / "ids.txt"), *PURPOSE, "--consent-ref", "r",
            "--legal-basis", "consent",
        )  # fmt: skip
        assert enrolled.returncode == 0, enrolled.stderr
        baseline = cli_json(*query)

        # --- OpenBao stopped ---------------------------------------------------------
        bao.stop()
        _wait_not_serving(service)
        assert cli_json(*query) == baseline  # keys in memory: identification continues
        refused = _create(service, "d")
        assert refused.returncode == 1
        assert "UNAVAILABLE" in refused.stderr and "key service" in refused.stderr
        assert "down, sealed or unreachable" in refused.stderr
        assert "Traceback" not in refused.stderr
        status = run_cli("keys", "status", *target)
        assert status.returncode == 1 and "UNAVAILABLE" in status.stderr
        more = run_cli(
            "enroll", *target, "--collection", "c2", "--templates", str(tmp_path / "more.npy"),
            "--ids", str(tmp_path / "more.txt"), *PURPOSE, "--consent-ref", "r",
            "--legal-basis", "consent",
        )  # fmt: skip
        assert more.returncode == 0, more.stderr  # the collection's DEK is in memory

        # --- OpenBao back: the service recovers by itself ------------------------------
        bao.start()
        assert _health(service, wait=30) == 0
        assert _create(service, "d").returncode == 0
        assert cli_json("keys", "status", *target)["kek_version"] == 1

        # --- OpenBao sealed, then unsealed ---------------------------------------------
        operator = hvac.Client(url=bao.addr, token=token)
        operator.sys.seal()
        _wait_not_serving(service)
        sealed = _create(service, "e")
        assert sealed.returncode == 1 and "UNAVAILABLE" in sealed.stderr
        assert "sealed" in sealed.stderr.lower()
        assert cli_json(*query) == baseline
        unseal_key = InitSecrets.load(bao.home / "init.json").unseal_key
        operator.sys.submit_unseal_key(key=unseal_key)
        operator.adapter.close()
        assert _health(service, wait=30) == 0
        assert _create(service, "e").returncode == 0
        assert cli_json(*query) == baseline
    finally:
        assert service.stop() == 0
    log = (tmp_path / "serve.log").read_text()
    assert "NOT_SERVING" in log and token not in log
