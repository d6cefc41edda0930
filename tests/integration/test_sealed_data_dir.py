"""A data directory is useless away from its Vault, and its blocks cannot be moved.

`biovault serve` must refuse to start - with one clear line, and without writing a
byte - when its data directory is shown to a KEK that never wrapped its keys, when
two collections' data keys are swapped, or when sealed blocks are swapped between
collections; once the bytes are put back it starts and answers as before.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import uuid
from pathlib import Path

import numpy as np

from tests.support.openbao import DevServer
from tests.support.service import ServiceProcess, cli_json, run_cli
from tests.support.synthetic import identities

DIM = 32


def _digests(data_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file()
    }


def _serve_refuses(data_dir: Path, openbao_dev: DevServer, kek: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(VAULT_ADDR=openbao_dev.addr, VAULT_TOKEN=openbao_dev.token)
    before = _digests(data_dir)
    done = run_cli(
        "serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:0", "--kek-name", kek,
        env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert _digests(data_dir) == before, "a refused start must not write anything"
    return done.stderr


def _swap(db: Path, sql_select: str, sql_update: str) -> None:
    conn = sqlite3.connect(db)
    try:
        (first, second) = [row[0] for row in conn.execute(sql_select).fetchall()]
        with conn:
            conn.execute(sql_update, (second, 0))
            conn.execute(sql_update, (first, 1))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def test_a_data_directory_opens_only_with_its_own_keys_in_place(
    tmp_path: Path, openbao_dev: DevServer
) -> None:
    """Foreign KEK, swapped data keys and swapped blocks are each refused unchanged."""
    kek = f"sealed-{uuid.uuid4().hex[:10]}"
    data_dir = tmp_path / "data"
    service = ServiceProcess(
        data_dir, tmp_path / "serve.log", vault_addr=openbao_dev.addr,
        token=openbao_dev.token, extra_args=("--kek-name", kek),
    ).start()  # fmt: skip
    target = ("--target", service.target)
    templates = identities(6, DIM, np.random.default_rng(8)).astype(np.float32)
    np.save(tmp_path / "t.npy", templates)
    (tmp_path / "ids.txt").write_text("".join(f"x{i}\n" for i in range(6)))
    query = ("identify", *target, "--collection", "a", "--templates", str(tmp_path / "t.npy"),
             "--top-k", "1", "--purpose", "access")  # fmt: skip
    for name in ("a", "b"):
        assert run_cli(
            "collection", "create", *target, "--name", name, "--mode", "ckks", "--dim", str(DIM),
            "--allow-identification", "--purposes", "access",
        ).returncode == 0  # fmt: skip
        assert run_cli(
            "enroll", *target, "--collection", name, "--templates", str(tmp_path / "t.npy"),
            "--ids", str(tmp_path / "ids.txt"), "--purpose", "access", "--consent-ref", "r",
            "--legal-basis", "consent",
        ).returncode == 0  # fmt: skip
    answers = cli_json(*query)
    assert service.stop() == 0
    db = data_dir / "vault.db"
    pristine = db.read_bytes()

    stranger = f"stranger-{uuid.uuid4().hex[:10]}"  # as if it were another Vault
    refused = _serve_refuses(data_dir, openbao_dev, stranger)
    assert "cannot unwrap" in refused and "Nothing was changed" in refused

    _swap(
        db,
        "SELECT value FROM secrets WHERE kind = 'data-key' ORDER BY owner, slot",
        "UPDATE secrets SET value = ? WHERE kind = 'data-key' AND owner = (SELECT owner FROM "
        "secrets WHERE kind = 'data-key' ORDER BY owner, slot LIMIT 1 OFFSET ?)",
    )
    assert "failed authentication" in _serve_refuses(data_dir, openbao_dev, kek)
    db.write_bytes(pristine)

    _swap(
        db,
        "SELECT blob FROM blocks ORDER BY collection",
        "UPDATE blocks SET blob = ? WHERE collection = (SELECT collection FROM blocks "
        "ORDER BY collection LIMIT 1 OFFSET ?)",
    )
    refused = _serve_refuses(data_dir, openbao_dev, kek)
    assert "ckks-block/0 of 'a' failed authentication" in refused
    db.write_bytes(pristine)

    service.start()
    assert cli_json(*query) == answers
    assert service.stop() == 0
