"""KEK and DEK rotation on a real OpenBao, real SQLite and real TenSEAL.

The crash tests stop a rotation right after each of its durable effects (a Vault
call that changed something, or a committed store write) by raising out of it,
then reopen the data directory as a restarted process would: every blob must
still open, and rerunning must finish with exactly one new KEK version.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.core.conftest import MemoryAuditSink
from tests.support.openbao import DevServer
from tests.support.synthetic import identities
from vault.core.keyops import KeyOps
from vault.core.vault import VaultCore
from vault.errors import ConfigurationError, FailedPrecondition, IntegrityError, WrappedKeyRejected
from vault.he.params import DEFAULT_PARAMS_ID, get_params
from vault.keys.base import KekInfo, KeyService, WrappedDataKey
from vault.keys.datakey import DataKey
from vault.keys.datakeys import CollectionDataKeys
from vault.keys.hcvault import HcVaultKeyService
from vault.keys.inventory import scan_wrapped
from vault.keys.keyring import load_or_create_keyset, load_or_create_pseudonym_key
from vault.keys.rotation import RotationOptions, load_journal, rotate_dek, rotate_kek
from vault.store.base import SecretRow, TemplateStore
from vault.store.sqlite import SqliteTemplateStore
from vault.types import CollectionSpec, ProtectionMode, RequestContext

DIM = 16
CTX = RequestContext(actor="officer", purpose="access", consent_ref="c-1", legal_basis="consent")
PARAMS = get_params(DEFAULT_PARAMS_ID)


class _Crash(BaseException):
    """Stands for the process dying (not an Exception: nothing may catch it)."""


class _Fuse:
    """Counts durable effects and 'kills the process' right after effect number ``at``."""

    def __init__(self, at: int) -> None:
        self.at, self.count = at, 0

    def tick(self) -> None:
        self.count += 1
        if self.count == self.at:
            raise _Crash


def _deks(store: TemplateStore) -> list[tuple[str, int]]:
    return [(row.owner, row.slot) for row in store.list_secrets("data-key")]


class _CrashingStore(SqliteTemplateStore):
    fuse: _Fuse | None = None

    def _tick(self) -> None:
        if self.fuse is not None:
            self.fuse.tick()

    def put_meta(self, key: str, value: bytes, *, overwrite: bool = False) -> None:
        super().put_meta(key, value, overwrite=overwrite)
        self._tick()

    def put_secret(self, row: SecretRow) -> None:
        super().put_secret(row)
        self._tick()

    def replace_secret(self, row: SecretRow, expected: bytes) -> bool:
        done = super().replace_secret(row, expected)
        self._tick()
        return done

    def replace_block_blob(
        self, collection: str, block_no: int, expected: bytes, new: bytes
    ) -> bool:
        done = super().replace_block_blob(collection, block_no, expected, new)
        self._tick()
        return done

    def delete_secret_if_no_block_uses(
        self, kind: str, owner: str, slot: int, key_version: int, header_offset: int
    ) -> bool:
        done = super().delete_secret_if_no_block_uses(kind, owner, slot, key_version, header_offset)
        self._tick()
        return done


class _CrashingKeys(KeyService):
    """The real Transit key service; dies right after each call that changes Vault."""

    def __init__(self, real: HcVaultKeyService, fuse: _Fuse | None) -> None:
        self.real, self.fuse = real, fuse

    def _tick(self) -> None:
        if self.fuse is not None:
            self.fuse.tick()

    def generate_data_key(self) -> WrappedDataKey:
        return self.real.generate_data_key()

    def unwrap_data_key(self, wrapped: str) -> DataKey:
        return self.real.unwrap_data_key(wrapped)

    def kek_version(self) -> int:
        return self.real.kek_version()

    def kek_info(self) -> KekInfo:
        return self.real.kek_info()

    def is_available(self) -> bool:
        return self.real.is_available()

    def wrapped_key_version(self, wrapped: str) -> int:
        return self.real.wrapped_key_version(wrapped)

    def rotate_kek(self) -> int:
        version = self.real.rotate_kek()
        self._tick()
        return version

    def rewrap_data_keys(self, wrapped: Sequence[str]) -> list[str | None]:
        result = self.real.rewrap_data_keys(wrapped)
        self._tick()
        return result

    def retire_kek_versions(self, below: int) -> None:
        self.real.retire_kek_versions(below)
        self._tick()


@dataclass
class _Opened:
    store: _CrashingStore
    keys: _CrashingKeys
    data_keys: CollectionDataKeys
    core: VaultCore


def _open(path: Path, real: HcVaultKeyService, fuse: _Fuse | None = None) -> _Opened:
    store = _CrashingStore(path)
    keys = _CrashingKeys(real, None)
    keyset = load_or_create_keyset(store, keys, PARAMS)
    pseudonym_key = load_or_create_pseudonym_key(store, keys)
    data_keys = CollectionDataKeys(store, keys)
    core = VaultCore(
        store=store,
        keyset=keyset,
        audit=MemoryAuditSink(),
        pseudonym_key=pseudonym_key,
        data_keys=data_keys,
    )
    store.fuse, keys.fuse = fuse, fuse
    return _Opened(store, keys, data_keys, core)


def _populate(path: Path, keys: HcVaultKeyService) -> np.ndarray:
    """Collection 'a' (2 blocks) and 'b' (1 block) under ``keys``; returns a's templates."""
    templates = identities(4100, DIM, np.random.default_rng(7))
    opened = _open(path, keys)
    for name in ("a", "b"):
        opened.core.create_collection(
            CollectionSpec(name, ProtectionMode.CKKS, DIM, True, ("access",)), CTX
        )
    ids = [f"s{i}" for i in range(len(templates))]
    opened.core.enroll("a", ids, templates, CTX)
    opened.core.enroll("b", ids[:10], templates[:10], CTX)
    opened.store.close()
    return templates


@pytest.fixture
def populated(tmp_path: Path, key_service: HcVaultKeyService) -> tuple[Path, np.ndarray]:
    """A data directory with collection 'a' (2 blocks) and 'b' (1 block)."""
    return tmp_path / "vault.db", _populate(tmp_path / "vault.db", key_service)


@contextmanager
def _fresh_kek(openbao_dev: DevServer) -> Iterator[HcVaultKeyService]:
    keys = HcVaultKeyService(
        addr=openbao_dev.addr, token=openbao_dev.token, kek_name=f"crash-{uuid.uuid4().hex[:12]}"
    )
    keys.ensure_transit()
    try:
        yield keys
    finally:
        keys.close()


def _crash_everywhere(tmp_path: Path, openbao_dev: DevServer, kind: str, rotate: Any) -> int:
    """Run ``rotate`` on a fresh data directory once per durable effect, dying right
    after that effect; check that everything opens, then rerun to completion.

    Returns:
        How many crash points there were.
    """
    crash_at = 1
    while True:
        with _fresh_kek(openbao_dev) as keys:
            path = tmp_path / f"{kind}-{crash_at}" / "vault.db"
            path.parent.mkdir()
            templates = _populate(path, keys)
            opened = _open(path, keys, _Fuse(crash_at))
            try:
                rotate(opened, False)
            except _Crash:
                pass
            else:
                opened.store.close()
                return crash_at - 1
            opened.store.close()
            _check_everything_opens(path, keys, templates)
            opened = _open(path, keys)
            summary = rotate(opened, True)  # `keys rotate ... --resume`
            # Finished by the rerun - or already done when the crash hit the last step.
            assert summary.remaining_old == 0 and (summary.resumed or summary.noop)
            assert load_journal(opened.store, kind)["state"] == "done"
            opened.store.close()
            _check_everything_opens(path, keys, templates)
            _after_rotation(path, keys, kind)
        crash_at += 1


def _after_rotation(path: Path, keys: HcVaultKeyService, kind: str) -> None:
    with SqliteTemplateStore(path) as store:
        if kind == "kek":
            # Exactly one new version, whatever step the crash interrupted.
            assert keys.kek_info().latest_version == keys.kek_info().min_decryption_version == 2
            assert {e.kek_version for e in scan_wrapped(store, keys)} == {2}
        else:
            assert _deks(store) == [("a", 2), ("b", 2)]
            headers = store.block_headers("a", 12) + store.block_headers("b", 12)
            assert {int.from_bytes(h[8:12], "little") for _, h in headers} == {2}


def _check_everything_opens(path: Path, keys: HcVaultKeyService, templates: np.ndarray) -> None:
    opened = _open(path, keys)  # loading opens (authenticates) every block
    try:
        top = opened.core.identify("a", templates[[0, 4099]], 1, CTX)
        assert [m[0].subject_id for m in top] == ["s0", "s4099"]
        assert opened.core.identify("b", templates[:1], 1, CTX)[0][0].subject_id == "s0"
    finally:
        opened.store.close()


def _kek_versions(path: Path, keys: HcVaultKeyService) -> set[int]:
    with SqliteTemplateStore(path) as store:
        return {entry.kek_version for entry in scan_wrapped(store, keys)}


def test_kek_rotation_rewraps_every_wrapped_key_and_retires_the_old_version(
    populated: tuple[Path, np.ndarray], key_service: HcVaultKeyService
) -> None:
    """Two DEKs, the key set and the pseudonym key move to v2; v1 no longer decrypts."""
    path, templates = populated
    opened = _open(path, key_service)
    before = scan_wrapped(opened.store, key_service)
    assert len(before) == 4 and {e.kek_version for e in before} == {1}
    seen: list[str] = []
    summary = rotate_kek(
        opened.store,
        opened.keys,
        opened.data_keys,
        RotationOptions("kek", batch_size=3),
        lambda p: seen.append(p.phase),
    )
    assert (summary.key_version, summary.rewrapped, summary.remaining_old) == (2, 4, 0)
    assert {"rotate", "rewrap", "retire"} <= set(seen)
    assert key_service.kek_info().min_decryption_version == 2
    with pytest.raises(WrappedKeyRejected):
        key_service.unwrap_data_key(before[0].wrapped)
    again = rotate_kek(
        opened.store,
        opened.keys,
        opened.data_keys,
        RotationOptions("kek", resume_only=True),
        lambda p: None,
    )
    assert again.noop and again.rewrapped == 0 and again.key_version == 2
    opened.store.close()
    _check_everything_opens(path, key_service, templates)


def test_kek_rotation_survives_a_crash_after_any_effect(
    tmp_path: Path, openbao_dev: DevServer
) -> None:
    """Killed right after each durable step in turn: blobs stay readable, a rerun
    finishes with exactly one new KEK version, and a rerun after that is a no-op."""

    def rotate(opened: _Opened, resume_only: bool) -> Any:
        return rotate_kek(
            opened.store,
            opened.keys,
            opened.data_keys,
            RotationOptions("kek", resume_only=resume_only, batch_size=2),
            lambda p: None,
        )

    points = _crash_everywhere(tmp_path, openbao_dev, "kek", rotate)
    # journal x2, rotate, 2 batches of 2 rewraps + 4 swaps, retire, journal
    assert points == 11


def test_dek_rotation_survives_a_crash_after_any_effect(
    tmp_path: Path, openbao_dev: DevServer
) -> None:
    """Killed right after each durable step in turn: every block still opens, and the
    rerun reseals every block under DEK v2 and retires v1."""

    def rotate(opened: _Opened, resume_only: bool) -> Any:
        return rotate_dek(
            opened.store,
            opened.keys,
            opened.data_keys,
            RotationOptions("dek", resume_only=resume_only),
            lambda p: None,
            keyset_params=PARAMS,
        )

    points = _crash_everywhere(tmp_path, openbao_dev, "dek", rotate)
    # journal, then per collection: new DEK, journal, reseals, retire; key set; journal
    assert points == 12


def test_rerunning_a_finished_rotation_is_a_no_op(
    populated: tuple[Path, np.ndarray], key_service: HcVaultKeyService
) -> None:
    """--resume after a finished rotation changes nothing (KEK and DEK)."""
    path, _ = populated
    opened = _open(path, key_service)
    for kind, run in (("kek", rotate_kek), ("dek", rotate_dek)):
        extra = {"keyset_params": PARAMS} if kind == "dek" else {}
        run(opened.store, opened.keys, opened.data_keys, RotationOptions(kind), print, **extra)
        again = run(
            opened.store,
            opened.keys,
            opened.data_keys,
            RotationOptions(kind, resume_only=True),
            print,
            **extra,
        )
        assert again.noop and again.rewrapped == again.resealed == again.remaining_old == 0
    assert key_service.kek_info().latest_version == 2
    assert _deks(opened.store) == [("a", 2), ("b", 2)]
    opened.store.close()


def test_enrolment_and_erasure_keep_working_during_a_dek_rotation(
    populated: tuple[Path, np.ndarray], key_service: HcVaultKeyService
) -> None:
    """A throttled rotation runs on its own thread while subjects are enrolled and
    erased; afterwards every block is under the new DEK and all answers are right."""
    path, templates = populated
    opened = _open(path, key_service)
    audit = MemoryAuditSink()
    ops = KeyOps(store=opened.store, keys=key_service, data_keys=opened.data_keys, audit=audit)
    handle = ops.rotate(RotationOptions("dek", collections=("a",), throttle=0.5), CTX)
    assert handle is ops.rotate(RotationOptions("dek", collections=("a",)), CTX)  # attaches
    extra = identities(30, DIM, np.random.default_rng(3))
    for i in range(3):
        rows = slice(10 * i, 10 * (i + 1))
        opened.core.enroll("a", [f"x{j}" for j in range(rows.start, rows.stop)], extra[rows], CTX)
        opened.core.delete("a", f"s{i}", CTX)
        if i == 0:
            assert not handle.done  # the writes really interleave with the rotation
    summary = handle.wait()
    assert summary.remaining_old == 0 and summary.collections == {"a": 2}
    assert {int.from_bytes(h[8:12], "little") for _, h in opened.store.block_headers("a", 12)} == {
        2
    }
    assert [e.action for e in audit.events] == [
        "keys.rotate_dek.start",
        "keys.rotate_dek",
    ] and audit.events[-1].outcome == "ok"
    assert set(audit.events[-1].details) >= {"key_version", "resealed", "remaining_old"}
    ops.close()
    opened.store.close()
    reopened = _open(path, key_service)
    answers = reopened.core.identify("a", np.vstack([extra, templates[3:4]]), 1, CTX)
    assert [m[0].subject_id for m in answers] == [f"x{j}" for j in range(30)] + ["s3"]
    reopened.store.close()


def test_a_data_directory_shown_to_another_kek_refuses_to_open(
    populated: tuple[Path, np.ndarray], openbao_dev
) -> None:
    """Wrapped DEKs from another KEK stop the start with a clear error and change nothing."""
    path, _ = populated
    stranger = HcVaultKeyService(
        addr=openbao_dev.addr, token=openbao_dev.token, kek_name=f"other-{os.getpid()}"
    )
    stranger.ensure_transit()
    before = path.read_bytes()
    store = SqliteTemplateStore(path)
    data_keys = CollectionDataKeys(store, stranger)
    with pytest.raises(
        ConfigurationError, match="cannot unwrap data key version 1 of collection 'a'"
    ):
        data_keys.sealer("a")
    store.close()
    stranger.close()
    assert path.read_bytes() == before


def test_swapped_blocks_are_rejected_at_load(
    populated: tuple[Path, np.ndarray], key_service: HcVaultKeyService
) -> None:
    """Exchanging two stored blocks' bytes makes loading fail authentication."""
    path, _ = populated
    with SqliteTemplateStore(path) as store:
        first, second = store.get_block("a", 0), store.get_block("a", 1)
        assert first is not None and second is not None
        assert store.replace_block_blob("a", 0, first.blob, second.blob)
    with pytest.raises(IntegrityError, match="ckks-block/0 of 'a' failed authentication"):
        _open(path, key_service)


def test_concurrent_rotations_of_different_kinds_are_refused(
    populated: tuple[Path, np.ndarray], key_service: HcVaultKeyService
) -> None:
    """While a DEK rotation runs, a KEK rotation is refused rather than interleaved."""
    path, _ = populated
    opened = _open(path, key_service)
    ops = KeyOps(
        store=opened.store, keys=key_service, data_keys=opened.data_keys, audit=MemoryAuditSink()
    )
    handle = ops.rotate(RotationOptions("dek", throttle=0.2), CTX)
    with pytest.raises(FailedPrecondition, match="DEK rotation is running"):
        ops.rotate(RotationOptions("kek"), CTX)
    handle.wait()
    status = ops.status(CTX)
    assert status.running == "" and status.blobs_by_kek_version == {1: 5}
    ops.close()
    opened.store.close()


def test_rotation_threads_do_not_leak(
    populated: tuple[Path, np.ndarray], key_service: HcVaultKeyService
) -> None:
    """A finished rotation leaves no thread behind."""
    path, _ = populated
    opened = _open(path, key_service)
    ops = KeyOps(
        store=opened.store, keys=key_service, data_keys=opened.data_keys, audit=MemoryAuditSink()
    )
    ops.rotate(RotationOptions("kek"), CTX).wait()
    ops.close()
    opened.store.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("biovault-rotate")]


def test_blocks_without_their_data_key_refuse_to_open_and_no_key_is_invented(
    populated: tuple[Path, np.ndarray], key_service: HcVaultKeyService
) -> None:
    """If a collection's wrapped DEK is gone, loading stops; no replacement is stored."""
    path, _ = populated
    with SqliteTemplateStore(path) as store:
        store.delete_secret("data-key", "b", 1)
    with pytest.raises(IntegrityError, match="'b' has stored blocks but no data key"):
        _open(path, key_service)
    with SqliteTemplateStore(path) as store:
        assert _deks(store) == [("a", 1)]
