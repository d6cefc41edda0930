"""`biovault serve --store-url` against a real PostgreSQL: one writer, schema
versions, the database going away under a running service, and fsck."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest

from tests.support.openbao import DevServer
from tests.support.postgres import PostgresServer
from tests.support.service import ServiceProcess, cli_json, run_cli
from tests.support.synthetic import identities
from vault.audit.entry import decode_entry
from vault.client import VaultClient

DIM = 64
CONSENT = ("--purpose", "access", "--consent-ref", "c-1", "--legal-basis", "consent")


def _env(openbao_dev: DevServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    return {**env, "VAULT_ADDR": openbao_dev.addr, "VAULT_TOKEN": openbao_dev.token}


def _service(data_dir: Path, openbao_dev: DevServer, url: str) -> ServiceProcess:
    return ServiceProcess(data_dir, data_dir.with_suffix(".log"), vault_addr=openbao_dev.addr,
                          token=openbao_dev.token, extra_args=("--store-url", url))  # fmt: skip


def _serve_once(data_dir: Path, url: str, env: dict[str, str]) -> tuple[int, str]:
    """Run a serve that is expected to refuse to start: its exit code and stderr."""
    done = run_cli("serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0",
                   "--store-url", url, env=env, timeout=180)  # fmt: skip
    return done.returncode, done.stderr


def _enroll(service: ServiceProcess, path: Path, ids: Path) -> object:
    return run_cli("enroll", "--target", service.target, "--collection", "faces",
                   "--templates", str(path), "--ids", str(ids), *CONSENT)  # fmt: skip


def _inputs(root: Path) -> tuple[Path, Path, Path, Path]:
    rng = np.random.default_rng(5)
    rows = identities(8, DIM, rng).astype(np.float32)
    np.save(root / "a.npy", rows[:4])
    np.save(root / "b.npy", rows[4:])
    (root / "a.txt").write_text("a0\na1\na2\na3\n")
    (root / "b.txt").write_text("b0\nb1\nb2\nb3\n")
    return root / "a.npy", root / "a.txt", root / "b.npy", root / "b.txt"


def test_a_second_serve_on_the_same_store_is_refused(
    tmp_path: Path, openbao_dev: DevServer, postgres_server: PostgresServer
) -> None:
    """The first service holds the advisory lock; the second exits 1 with one line."""
    url = postgres_server.url(postgres_server.create_database())
    first = _service(tmp_path / "one", openbao_dev, url).start()
    try:
        code, stderr = _serve_once(tmp_path / "two", url, _env(openbao_dev))
        assert code == 1
        refusal = [line for line in stderr.splitlines() if "another biovault service" in line]
        assert len(refusal) == 1 and "Traceback" not in stderr
        assert "single-writer lock" in refusal[0]
        assert cli_json("health", "--target", first.target)["serving"] is True
    finally:
        assert first.stop() == 0
    # Stopped: the lock went with its session, and a new service may start.
    second = _service(tmp_path / "two", openbao_dev, url).start()
    assert second.stop() == 0


def test_a_newer_schema_is_refused_with_one_line(
    tmp_path: Path, openbao_dev: DevServer, postgres_server: PostgresServer
) -> None:
    """A database migrated by a newer build is not served (and not changed)."""
    name = postgres_server.create_database()
    url = postgres_server.url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE biovault_schema (version integer NOT NULL)")
        conn.execute("INSERT INTO biovault_schema VALUES (99)")
    code, stderr = _serve_once(tmp_path / "data", url, _env(openbao_dev))
    assert code == 1 and "Traceback" not in stderr
    assert [line for line in stderr.splitlines() if "schema version 99" in line]
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
    assert tables == (1,)


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A PostgreSQL of its own, to be stopped and started under a running service."""
    server = PostgresServer()
    server.start()
    previous = os.environ.get("PGPASSFILE")
    os.environ["PGPASSFILE"] = str(server.passfile)
    try:
        yield server
    finally:
        if previous is None:
            os.environ.pop("PGPASSFILE", None)
        else:
            os.environ["PGPASSFILE"] = previous
        server.destroy()


def test_database_restart_gives_unavailable_then_recovers_without_a_service_restart(
    tmp_path: Path, openbao_dev: DevServer, own_server: PostgresServer
) -> None:
    """Enrolment fails as UNAVAILABLE while PostgreSQL is down and works once it is
    back; the service was never restarted; fsck on the store is clean."""
    url = own_server.url(own_server.create_database())
    a, a_ids, b, b_ids = _inputs(tmp_path)
    service = _service(tmp_path / "data", openbao_dev, url).start()
    pid = service.process.pid if service.process else None
    try:
        t = ("--target", service.target)
        created = run_cli("collection", "create", *t, "--name", "faces", "--mode", "ckks",
                          "--dim", str(DIM), "--purposes", "access")  # fmt: skip
        assert created.returncode == 0, created.stderr
        assert _enroll(service, a, a_ids).returncode == 0
        own_server.stop()
        down = _enroll(service, b, b_ids)
        assert down.returncode == 1
        assert "UNAVAILABLE" in down.stderr or "unreachable" in down.stderr, down.stderr
        assert down.stderr.strip().count("\n") == 0, down.stderr
        own_server.start()
        up = _enroll(service, b, b_ids)
        assert up.returncode == 0, up.stderr
        assert cli_json("collection", "get", *t, "--name", "faces")["size"] == 8
        assert service.process is not None and service.process.pid == pid
        with VaultClient(service.target) as client:  # the receipt says what PostgreSQL keeps
            erased = client.delete("faces", "a0", purpose="access")
        assert erased.receipt is not None
        details = decode_entry(erased.receipt.entry).details
        assert details["storage_residue"] == "postgresql-old-row-version-until-vacuum"
    finally:
        assert service.stop() == 0
    checked = run_cli("fsck", "--data-dir", str(tmp_path / "data"), "--store-url", url,
                      "--json", "-", env=_env(openbao_dev))  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["ok"] and report["subjects"] == 7 and report["audit_entries_verified"] > 0
