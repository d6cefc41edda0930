"""`biovault serve` with no Vault address runs its own persistent OpenBao under the
data dir, reuses it after a restart, stops it on shutdown, and a data dir shown to
a different Vault refuses to start without touching anything."""

import hashlib
import os
from pathlib import Path

import numpy as np

from tests.support.service import ServiceProcess, cli_json, run_cli
from tests.support.synthetic import identities

DIM = 64


def _bao_processes_for(data_dir: Path) -> list[int]:
    """PIDs of live `bao` processes whose command line mentions the data dir."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if "bao" in cmdline and str(data_dir) in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_embedded_openbao_lifecycle(tmp_path, openbao_dev):
    """Start, answer, restart with identical answers, stop cleanly, refuse a foreign Vault."""
    data_dir = tmp_path / "data"
    service = ServiceProcess(data_dir, tmp_path / "serve.log", vault_addr=None, token=None).start()
    target = ("--target", service.target)
    templates = identities(10, DIM, np.random.default_rng(9)).astype(np.float32)
    np.save(tmp_path / "t.npy", templates)
    (tmp_path / "ids.txt").write_text("\n".join(f"p{i}" for i in range(10)) + "\n")
    assert (
        run_cli(
            "collection",
            "create",
            *target,
            "--name",
            "c",
            "--mode",
            "ckks",
            "--dim",
            str(DIM),
            "--allow-identification",
            "--purposes",
            "access",
        ).returncode
        == 0
    )
    assert (
        run_cli(
            "enroll",
            *target,
            "--collection",
            "c",
            "--templates",
            str(tmp_path / "t.npy"),
            "--ids",
            str(tmp_path / "ids.txt"),
            "--purpose",
            "access",
            "--consent-ref",
            "c-1",
            "--legal-basis",
            "consent",
        ).returncode
        == 0
    )
    query = (
        "identify",
        *target,
        "--collection",
        "c",
        "--templates",
        str(tmp_path / "t.npy"),
        "--top-k",
        "3",
        "--purpose",
        "access",
    )
    first = cli_json(*query)
    assert [r["matches"][0]["id"] for r in first["results"]] == [f"p{i}" for i in range(10)]
    init_file = data_dir / "openbao" / "init.json"
    assert init_file.stat().st_mode & 0o777 == 0o600
    assert _bao_processes_for(data_dir), "embedded OpenBao should be running"

    assert service.stop() == 0
    assert _bao_processes_for(data_dir) == []

    service.start()
    assert cli_json(*query) == first
    assert service.stop() == 0

    # The same data dir against another Vault: refuse, explain, change nothing.
    before = {p.name: _digest(p) for p in data_dir.iterdir() if p.is_file()}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(VAULT_ADDR=openbao_dev.addr, VAULT_TOKEN=openbao_dev.token)
    refused = run_cli(
        "serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0", env=env, timeout=60
    )
    assert refused.returncode == 1
    assert "cannot unwrap" in refused.stderr and "Traceback" not in refused.stderr
    assert {p.name: _digest(p) for p in data_dir.iterdir() if p.is_file()} == before
