"""Schema 1 -> 2: the key catalog's secrets move from meta prefixes into their own table.

The version-1 file is built here exactly as the code before the ``secrets`` table
wrote it (its schema and its meta key layout), with synthetic values.
"""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

import pytest

from vault.store import SqliteTemplateStore
from vault.store.base import SecretRow

_V1_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE collections (
    name TEXT PRIMARY KEY, mode TEXT NOT NULL, dim INTEGER NOT NULL,
    params_id INTEGER NOT NULL,
    allow_identification INTEGER NOT NULL CHECK (allow_identification IN (0, 1)),
    purposes TEXT NOT NULL, match_threshold REAL NOT NULL, created_at REAL NOT NULL,
    key_version INTEGER NOT NULL, config_json TEXT NOT NULL);
CREATE TABLE blocks (
    collection TEXT NOT NULL REFERENCES collections (name),
    block_no INTEGER NOT NULL CHECK (block_no >= 0), blob BLOB NOT NULL,
    next_slot INTEGER NOT NULL CHECK (next_slot >= 0), live INTEGER NOT NULL CHECK (live >= 0),
    encryptions INTEGER NOT NULL CHECK (encryptions >= 0), PRIMARY KEY (collection, block_no));
CREATE TABLE subjects (
    collection TEXT NOT NULL, subject_id TEXT NOT NULL, block_no INTEGER NOT NULL,
    slot INTEGER NOT NULL CHECK (slot >= 0), key_version INTEGER NOT NULL,
    enrolled_at REAL NOT NULL, PRIMARY KEY (collection, subject_id),
    UNIQUE (collection, block_no, slot),
    FOREIGN KEY (collection, block_no) REFERENCES blocks (collection, block_no));
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
INSERT INTO schema_version (version) VALUES (1);
"""


def _header(version: int) -> bytes:
    return b"BVLT\x01\x0a\x00\x00" + struct.pack("<I", version) + b"\x03\x00\x00\x00"


# What main's key catalog stored: one meta key per secret, per-kind prefixes.
_SECRETS = {
    "ckks.keyset.params-3": ("ckks-keyset", "vault", 3, _header(2) + b"BVEN-keyset"),
    "dek/faces/00000001": ("data-key", "faces", 1, _header(1) + b"vault:v1:dek1"),
    "dek/faces/00000002": ("data-key", "faces", 2, _header(2) + b"vault:v2:dek2"),
    "cancelable.seed/faces/00000001": ("transform-seed", "faces", 1, _header(1) + b"BVEN-s"),
    "audit.signing-key.sealed": ("audit-signing-key", "vault", 0, _header(1) + b"BVEN-a"),
    "audit.pseudonym-key.wrapped": ("pseudonym-key", "vault", 0, b"vault:v1:bare"),
}
_OTHER_META = {
    "audit.log.origin": b"biovault.local/audit/0011",
    "profile/faces": b"{}",
    "keys.rotation.kek": b'{"state": "done"}',
    "dek/not-a-slot": b"left alone",
}


@pytest.fixture
def v1_file(tmp_path: Path) -> Path:
    """A store file in schema version 1 holding every kind of secret."""
    path = tmp_path / "vault.db"
    conn = sqlite3.connect(path)
    conn.executescript(_V1_SCHEMA)
    for key, (_, _, _, value) in _SECRETS.items():
        conn.execute("INSERT INTO meta VALUES (?, ?)", (key, value))
    for key, value in _OTHER_META.items():
        conn.execute("INSERT INTO meta VALUES (?, ?)", (key, value))
    conn.commit()
    conn.close()
    return path


def _expected() -> list[SecretRow]:
    rows = []
    for kind, owner, slot, value in _SECRETS.values():
        version = struct.unpack_from("<I", value, 8)[0] if value.startswith(b"BVLT") else 0
        rows.append(SecretRow(kind, owner, slot, version, value))
    return sorted(rows, key=lambda r: (r.kind, r.owner, r.slot))


def _meta_keys(path: Path) -> list[str]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return sorted(str(k) for (k,) in conn.execute("SELECT key FROM meta"))
    finally:
        conn.close()


def test_first_open_moves_every_secret_and_keeps_the_rest(v1_file: Path) -> None:
    """Secrets land in the table byte for byte; other metadata stays in meta."""
    with SqliteTemplateStore(v1_file) as store:
        assert store.list_secrets() == _expected()
        assert store.get_meta("audit.log.origin") == _OTHER_META["audit.log.origin"]
    assert _meta_keys(v1_file) == sorted(_OTHER_META)
    with SqliteTemplateStore(v1_file) as store:  # a second open finds nothing to move
        assert store.list_secrets() == _expected()
        assert store.list_secrets("data-key", "faces")[1].slot == 2


def test_read_only_open_of_a_v1_file_sees_secrets_and_changes_nothing(v1_file: Path) -> None:
    """fsck before the first start reads the old layout as it is."""
    before = v1_file.read_bytes()
    with SqliteTemplateStore(v1_file, read_only=True) as store:
        assert store.list_secrets() == _expected()
        assert store.get_secret("data-key", "faces", 2) in _expected()
    assert v1_file.read_bytes() == before
