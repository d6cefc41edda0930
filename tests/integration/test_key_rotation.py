"""Key rotation of a live `biovault serve` through the real CLI, on real OpenBao.

A KEK and a DEK rotation run while identify and enroll keep answering; answers stay
identical; `keys status` shows every blob moving to the new KEK version. Then the
service is killed with SIGKILL in the middle of each kind of rotation, restarted,
and the rotation rerun: it finishes without a second KEK version, and a further
`--resume` is a no-op.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.openbao import DevServer
from tests.support.postgres import StoreChoice
from tests.support.service import ServiceProcess, cli_json, run_cli
from tests.support.synthetic import identities, samples

DIM = 64
GALLERY = 5000  # two blocks
PURPOSE = ("--purpose", "access")


def _service(
    root: Path, openbao_dev: DevServer, name: str, store_args: tuple[str, ...] = ()
) -> ServiceProcess:
    kek = f"rotation-{uuid.uuid4().hex[:10]}"  # a KEK of its own on the shared server
    return ServiceProcess(
        root / name,
        root / f"{name}.log",
        vault_addr=openbao_dev.addr,
        token=openbao_dev.token,
        extra_args=("--kek-name", kek, *store_args),
    )


def _populate(service: ServiceProcess, inputs: Path) -> None:
    target = ("--target", service.target)
    for name, rows in (("faces", GALLERY), ("staff", 10)):
        created = run_cli(
            "collection", "create", *target, "--name", name, "--mode", "ckks",
            "--dim", str(DIM), "--allow-identification", "--purposes", "access",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        enrolled = run_cli(
            "enroll", *target, "--collection", name,
            "--templates", str(inputs / f"{name}.npy"), "--ids", str(inputs / f"{name}.txt"),
            *PURPOSE, "--consent-ref", "c-1", "--legal-basis", "consent",
        )  # fmt: skip
        assert enrolled.returncode == 0, enrolled.stderr
        assert rows  # documents the sizes above


def _identify(service: ServiceProcess, probes: Path, collection: str = "faces") -> object:
    return cli_json(
        "identify", "--target", service.target, "--collection", collection,
        "--templates", str(probes), "--top-k", "3", *PURPOSE,
    )  # fmt: skip


def _status(service: ServiceProcess) -> dict:
    status = cli_json("keys", "status", "--target", service.target)
    assert isinstance(status, dict)
    return status


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Gallery, ids and probes for two collections."""
    root = tmp_path_factory.mktemp("rotation-inputs")
    rng = np.random.default_rng(11)
    centres = identities(GALLERY + 10, DIM, rng)
    np.save(root / "faces.npy", samples(centres[:GALLERY], rng).astype(np.float32))
    (root / "faces.txt").write_text("".join(f"f{i}\n" for i in range(GALLERY)))
    np.save(root / "staff.npy", samples(centres[GALLERY:], rng).astype(np.float32))
    (root / "staff.txt").write_text("".join(f"s{i}\n" for i in range(10)))
    np.save(root / "probes.npy", samples(centres[[0, 1, 4097, 4999]], rng).astype(np.float32))
    np.save(root / "late.npy", identities(10, DIM, rng).astype(np.float32))
    (root / "late.txt").write_text("".join(f"late{i}\n" for i in range(10)))
    return root


def test_live_rotation_keeps_every_answer(
    tmp_path: Path, openbao_dev: DevServer, inputs: Path
) -> None:
    """KEK then DEK rotation of a serving vault: every blob moves to the new versions
    while identify and enroll run, and answers are unchanged."""
    service = _service(tmp_path, openbao_dev, "live").start()
    try:
        _populate(service, inputs)
        baseline = _identify(service, inputs / "probes.npy")
        before = _status(service)
        assert before["kek_version"] == 1
        assert set(before["blobs_by_kek_version"]) == {"1"}
        total = before["blobs_by_kek_version"]["1"]
        assert total >= 5  # 3 blocks + the key set + the pseudonym key (+ other sealed keys)

        rotation = subprocess.Popen(
            [sys.executable, "-m", "vault", "keys", "rotate", "kek", "--target", service.target,
             "--batch-size", "1", "--throttle", "0.3", "--json", str(tmp_path / "kek.json")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert _identify(service, inputs / "probes.npy") == baseline  # during the rotation
        enrolled = run_cli(
            "enroll", "--target", service.target, "--collection", "staff",
            "--templates", str(inputs / "late.npy"), "--ids", str(inputs / "late.txt"),
            *PURPOSE, "--consent-ref", "c-2", "--legal-basis", "consent",
        )  # fmt: skip
        assert enrolled.returncode == 0, enrolled.stderr
        assert rotation.poll() is None, "the rotation should still be running"
        _, progress = rotation.communicate(timeout=120)
        assert rotation.returncode == 0, progress
        assert "rewrap" in progress
        summary = json.loads((tmp_path / "kek.json").read_text())
        assert summary["kind"] == "kek" and summary["key_version"] == 2
        assert summary["remaining_old"] == 0 and summary["rewrapped"] >= 4

        after = _status(service)
        assert after["kek_version"] == after["min_decryption_version"] == 2
        assert after["blobs_by_kek_version"] == {"2": total}
        assert _identify(service, inputs / "probes.npy") == baseline
        late = _identify(service, inputs / "late.npy", "staff")
        assert [r["matches"][0]["id"] for r in late["results"]] == [f"late{i}" for i in range(10)]

        dek = cli_json("keys", "rotate", "dek", "--target", service.target, "--quiet")
        assert dek["kind"] == "dek" and dek["remaining_old"] == 0
        assert dek["collections"] == {"faces": 2, "staff": 2} and dek["resealed"] == 3
        final = _status(service)
        assert [c["blocks_by_dek_version"] for c in final["collections"]] == [{"2": 2}, {"2": 1}]
        assert final["blobs_by_kek_version"] == {"2": total}
        assert _identify(service, inputs / "probes.npy") == baseline
        print("keys status before:", json.dumps(before["blobs_by_kek_version"]),
              "after:", json.dumps(after["blobs_by_kek_version"]))  # fmt: skip
    finally:
        assert service.stop() == 0


def _kill_during(service: ServiceProcess, argv: list[str], marker: str) -> str:
    """Run a rotation command and SIGKILL the service once ``marker`` shows in its progress."""
    rotation = subprocess.Popen(
        [sys.executable, "-m", "vault", *argv, "--target", service.target],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert rotation.stderr is not None
    seen = []
    for line in rotation.stderr:
        seen.append(line)
        if marker in line:
            assert service.process is not None
            service.process.kill()  # kill -9 in the middle of the rotation
            service.process.wait()
            break
    rest, _ = rotation.communicate(timeout=60)
    assert rotation.returncode == 1, "".join(seen)
    return "".join(seen) + (rest or "")


@pytest.fixture
def crash_world(
    tmp_path: Path, openbao_dev: DevServer, inputs: Path, store_choice: StoreChoice
) -> Iterator[tuple[ServiceProcess, object]]:
    """A populated service on each store backend (kill -9 during rotation: PostgreSQL too)."""
    service = _service(tmp_path, openbao_dev, "crash", store_choice.args).start()
    try:
        _populate(service, inputs)
        yield service, _identify(service, inputs / "probes.npy")
    finally:
        service.stop()


def test_kek_rotation_killed_midway_finishes_on_rerun(
    crash_world: tuple[ServiceProcess, object], inputs: Path
) -> None:
    """SIGKILL during the rewrap: the restarted service opens every blob, the rerun
    finishes at the same KEK version, and --resume afterwards is a no-op."""
    service, baseline = crash_world
    _kill_during(
        service,
        ["keys", "rotate", "kek", "--batch-size", "1", "--throttle", "0.5"],
        "rewrap 2/",
    )
    service.start()  # every wrapped key and block opens, or start-up would fail
    assert _identify(service, inputs / "probes.npy") == baseline
    midway = _status(service)
    assert midway["rotations"]["kek"]["state"] == "rewrapping"
    assert set(midway["blobs_by_kek_version"]) == {"1", "2"}  # really interrupted
    assert midway["min_decryption_version"] == 1  # old version still decrypts

    rerun = cli_json("keys", "rotate", "kek", "--target", service.target, "--quiet")
    assert rerun["resumed"] and rerun["key_version"] == 2 and rerun["remaining_old"] == 0
    again = cli_json("keys", "rotate", "kek", "--resume", "--target", service.target)
    assert again["noop"] and again["key_version"] == 2 and again["rewrapped"] == 0
    done = _status(service)
    assert done["kek_version"] == done["min_decryption_version"] == 2
    assert set(done["blobs_by_kek_version"]) == {"2"}
    assert _identify(service, inputs / "probes.npy") == baseline


def test_dek_rotation_killed_midway_finishes_on_rerun(
    crash_world: tuple[ServiceProcess, object], inputs: Path
) -> None:
    """SIGKILL while blocks are resealed: every block still opens after the restart
    (under its old or new DEK) and the rerun reseals the rest and retires the old DEK."""
    service, baseline = crash_world
    _kill_during(service, ["keys", "rotate", "dek", "--throttle", "0.5"], "reseal 1/")
    service.start()
    assert _identify(service, inputs / "probes.npy") == baseline
    faces = next(c for c in _status(service)["collections"] if c["name"] == "faces")
    assert faces["dek_versions"] == [1, 2] and set(faces["blocks_by_dek_version"]) == {"1", "2"}

    rerun = cli_json("keys", "rotate", "dek", "--target", service.target, "--quiet")
    assert rerun["resumed"] and rerun["remaining_old"] == 0
    assert rerun["collections"] == {"faces": 2, "staff": 2}
    status = _status(service)
    assert [c["dek_versions"] for c in status["collections"]] == [[2], [2]]
    assert _identify(service, inputs / "probes.npy") == baseline
    assert service.stop() == 0
    service.start()  # and a clean restart still opens everything
    assert _identify(service, inputs / "probes.npy") == baseline
    assert os.path.exists(service.data_dir / "vault.db") == (
        "--store-url" not in service.extra_args
    )
