"""A data directory written before the key catalog opens, migrates once, and answers as before.

The fixture ``tests/fixtures/datadir-v0.tar.gz`` is synthetic and was written by the code
before issue 14 (see tests/fixtures/README.md), with its embedded OpenBao. Three of
its secrets (collection data key, pseudonym key, audit signing key) are stored
without the blob header; the first start must add it, change nothing else, keep
every old template verifiable and identifiable, and leave ``fsck`` clean.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tarfile
from pathlib import Path

import numpy as np

from tests.support.service import ServiceProcess, cli_json, run_cli
from tests.support.synthetic import identities
from vault.store._legacy_secrets import legacy_secret

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
Secret = tuple[str, str, int]  # kind, owner, slot


def _private_copy(target: Path) -> Path:
    # An archive: OpenBao's raft files are 16 MiB each, almost all zeros, and a
    # checkout should not carry them. git keeps no modes; OpenBao and the store
    # want private files.
    with tarfile.open(FIXTURES / "datadir-v0.tar.gz") as archive:
        archive.extractall(target.parent, filter="data")
    (target.parent / "datadir-v0").rename(target)
    for path in [target, *target.rglob("*")]:
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
    return target


def _secret_values(db: Path) -> dict[Secret, bytes]:
    """Every wrapped secret: from the meta prefixes of schema 1, or the secrets table."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        if version == 1:
            found = {}
            for key, value in conn.execute("SELECT key, value FROM meta").fetchall():
                parsed = legacy_secret(str(key), bytes(value))
                if parsed is not None:
                    found[parsed[:3]] = bytes(value)
            return found
        rows = conn.execute("SELECT kind, owner, slot, value FROM secrets").fetchall()
        assert not [k for (k,) in conn.execute("SELECT key FROM meta") if legacy_secret(k, b"")]
        return {(kind, owner, slot): bytes(value) for kind, owner, slot, value in rows}
    finally:
        conn.close()


def _fsck(data_dir: Path, env: dict[str, str]) -> dict:
    done = run_cli("fsck", "--data-dir", str(data_dir), "--json", "-", env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_an_old_data_directory_migrates_on_first_start(tmp_path: Path) -> None:
    """Old templates verify and identify; every secret gets its header; fsck is ok."""
    expected = json.loads((FIXTURES / "datadir-v0.expected.json").read_text())
    data_dir = _private_copy(tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    before = _secret_values(data_dir / "vault.db")
    headerless = sorted(k for k, v in before.items() if not v.startswith(b"BVLT"))
    # The fixture really is in the old layout: three kinds were stored bare.
    assert headerless == [
        ("audit-signing-key", "vault", 0),
        ("data-key", "cx", 1),
        ("pseudonym-key", "vault", 0),
    ]
    assert _fsck(data_dir, env)["ok"] is True  # the old layout is read as it is

    templates = identities(4, 64, np.random.default_rng(14)).astype(np.float32)
    np.save(tmp_path / "t.npy", templates)
    np.save(tmp_path / "q.npy", templates[2])
    service = ServiceProcess(data_dir, tmp_path / "serve.log", vault_addr=None, token=None)
    service.start()
    t = ("--target", service.target)
    identify = ("identify", *t, "--collection", "cx", "--templates", str(tmp_path / "t.npy"),
                "--top-k", "1", "--purpose", "access")  # fmt: skip
    try:
        assert cli_json(*identify) == expected["identify"]["cx"]
        probe = str(tmp_path / "q.npy")
        verdict = cli_json("verify", *t, "--collection", "cx", "--id", "s2", "--template", probe,
                           "--purpose", "access")  # fmt: skip
        assert verdict["match"] is True
        status = cli_json("keys", "status", *t)
        old = expected["keys_status"]
        for field in ("kek_version", "wrapped_keys_by_kek_version", "blobs_by_kek_version",
                      "collections", "templates_by_transform_key_version"):  # fmt: skip
            assert status[field] == old[field], field
        secrets = sorted((s["kind"], s["owner"], s["version"], s["kek_version"])
                         for s in status["secrets"])  # fmt: skip
        assert secrets == [
            ("audit-signing-key", "vault", 1, 1),
            ("ckks-keyset", "vault", 1, 1),
            ("data-key", "cx", 1, 1),
            ("pseudonym-key", "vault", 1, 1),
            ("transform-seed", "cx", 1, 1),
        ]
    finally:
        assert service.stop() == 0

    after = _secret_values(data_dir / "vault.db")
    assert sorted(after) == sorted(before)  # no secret added or lost
    assert all(v.startswith(b"BVLT") for v in after.values()), "every secret has its header"
    for key, value in before.items():  # migration only prepends the 16-byte header
        assert after[key] in (value, after[key][:16] + value), key
    checked = _fsck(data_dir, env)
    assert checked["ok"] is True and checked["secrets_opened"] == len(secrets)

    service.start()  # the second start finds nothing to migrate
    try:
        assert cli_json(*identify) == expected["identify"]["cx"]
    finally:
        assert service.stop() == 0
    assert _secret_values(data_dir / "vault.db") == after
