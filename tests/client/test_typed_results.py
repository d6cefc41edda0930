"""The SDK answers with frozen values, never dicts: matching node, key officer, auditor."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.service.fakes import FakeVault, Served, served, unit_rows
from tests.support.service import ServiceProcess
from vault.client import (
    ClientError,
    CollectionInfo,
    CollectionKeys,
    ComplianceClient,
    DeleteResult,
    KeyAdminClient,
    KeyStatus,
    Match,
    ProtectionMode,
    RetentionErasures,
    RotationSummary,
    TransformKeyRenewal,
    TransformKeyStatus,
    VaultClient,
    VerifyResult,
)
from vault.errors import InvalidArgument
from vault.types import CollectionSpec

DIM = 16
PURPOSE = {"purpose": "access"}
CONSENT = {"purpose": "access", "consent_ref": "C-1", "legal_basis": "consent"}


@pytest.fixture
def fake_client() -> Iterator[VaultClient]:
    """A client of the fake core served on a loopback port."""
    live: Served
    with served(FakeVault(), health_interval=0.05) as live, live.client(timeout=10) as client:
        yield client


def _frozen(value: object) -> bool:
    assert dataclasses.is_dataclass(value)
    field = dataclasses.fields(value)[0].name
    try:
        setattr(value, field, None)
    except dataclasses.FrozenInstanceError:
        return True
    return False


def test_matching_node_calls_return_frozen_values(fake_client: VaultClient) -> None:
    """create/enroll/verify/identify/delete answer CollectionInfo, int, VerifyResult, Match,
    DeleteResult."""
    rows = unit_rows(np.random.default_rng(3), 3, DIM)
    info = fake_client.create_collection(
        "faces", mode="ckks", dim=DIM, allow_identification=True, purposes=["access"]
    )
    assert isinstance(info, CollectionInfo) and _frozen(info)
    assert (info.name, info.mode, info.dim, info.purposes) == (
        "faces",
        ProtectionMode.CKKS,
        DIM,
        ("access",),
    )
    assert info.allow_identification is True

    enrolled = fake_client.enroll("faces", ["a", "b", "c"], rows, **CONSENT)
    assert type(enrolled) is int and enrolled == 3

    verified = fake_client.verify("faces", "b", rows[1], **PURPOSE)
    assert isinstance(verified, VerifyResult) and _frozen(verified)
    assert verified.match is True and verified.score == pytest.approx(1.0, abs=1e-5)

    ranked = fake_client.identify("faces", rows[[2, 0]], top_k=2, **PURPOSE)
    assert [[type(m) for m in row] for row in ranked] == [[Match, Match]] * 2
    assert [row[0].subject_id for row in ranked] == ["c", "a"]
    assert _frozen(ranked[0][0])
    single = fake_client.identify("faces", rows[1], top_k=1, **PURPOSE)  # one (dim,) probe
    assert [[m.subject_id for m in row] for row in single] == [["b"]]

    erased = fake_client.delete("faces", "a")
    assert isinstance(erased, DeleteResult) and _frozen(erased)
    assert (erased.subject_id, erased.erased) == ("a", 1)


def test_create_collection_keywords_match_a_spec(fake_client: VaultClient) -> None:
    """Keyword form and CollectionSpec form create the same collection; the mode may be an enum."""
    by_words = fake_client.create_collection(
        "w", mode=ProtectionMode.CANCELABLE, dim=DIM, purposes=("p",), match_threshold=0.5
    )
    by_spec = fake_client.create_collection(
        CollectionSpec("s", ProtectionMode.CANCELABLE, DIM, purposes=("p",), match_threshold=0.5)
    )
    assert dataclasses.replace(by_words, name="s") == by_spec
    assert by_words.match_threshold == 0.5


@pytest.mark.parametrize(
    "kwargs",
    [{"mode": "rot13", "dim": DIM}, {"dim": DIM}, {"mode": "ckks"}],
    ids=["unknown-mode", "no-mode", "no-dim"],
)
def test_create_collection_refuses_bad_arguments_locally(
    fake_client: VaultClient, kwargs: dict[str, object]
) -> None:
    """A bad mode or a missing mode/dim is InvalidArgument, and nothing is created."""
    with pytest.raises(InvalidArgument):
        fake_client.create_collection("bad", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ClientError) as missing:
        fake_client.get_collection("bad")
    assert missing.value.code.name == "NOT_FOUND"


@pytest.fixture(scope="module")
def keyed(real_service: ServiceProcess) -> ServiceProcess:
    """The real service with a ckks and a cancelable collection of a few templates."""
    rows = unit_rows(np.random.default_rng(11), 4, 64)
    with VaultClient(real_service.target, timeout=120) as vc:
        for name, mode in (("plain", "ckks"), ("keyed", "cancelable")):
            vc.create_collection(name, mode=mode, dim=64, purposes=["access"])
            vc.enroll(name, ["p", "q", "r", "s"], rows, **CONSENT)
    return real_service


def test_key_officer_gets_typed_status_and_rotations(keyed: ServiceProcess) -> None:
    """status, rotate kek, rotate dek and transform keys answer with frozen values."""
    with KeyAdminClient(keyed.target, timeout=300) as keys:
        before = keys.status()
        assert isinstance(before, KeyStatus) and _frozen(before)
        assert before.kek_version == 1
        assert set(before.blobs_by_kek_version) == {1}  # int keys, not the JSON's strings
        assert sum(before.blobs_by_kek_version.values()) >= 3
        named = {c.name: c for c in before.collections}
        assert {"plain", "keyed"} <= set(named)
        assert all(isinstance(c, CollectionKeys) for c in before.collections)

        kek = keys.rotate("kek", batch_size=2)
        assert isinstance(kek, RotationSummary) and _frozen(kek)
        assert (kek.kind, kek.key_version, kek.remaining_old) == ("kek", 2, 0)
        assert kek.rewrapped >= 1 and kek.finished_at >= kek.started_at > 0

        dek = keys.rotate("dek", collections=["plain"])
        assert (dek.kind, dek.remaining_old) == ("dek", 0)
        assert dict(dek.collections) == {"plain": named["plain"].dek_version + 1}

        after = keys.status()
        assert after.kek_version == 2 and set(after.blobs_by_kek_version) == {2}
        assert after.rotations["kek"].state == "done" and not after.rotations["kek"].pending

        renewed = keys.renew_transform_key("keyed")
        assert isinstance(renewed, TransformKeyRenewal) and _frozen(renewed)
        assert (renewed.collection, renewed.key_version, renewed.revoked) == ("keyed", 2, 0)
        counts = keys.transform_key_status("keyed")
        assert isinstance(counts, TransformKeyStatus)
        assert dict(counts.templates_by_key_version) == {1: 4}
        with pytest.raises(ClientError) as ckks:
            keys.transform_key_status("plain")
        assert ckks.value.code.name == "FAILED_PRECONDITION"
        with pytest.raises(ValueError, match="kind"):
            keys.rotate("everything")


def test_auditor_gets_typed_answers(keyed: ServiceProcess, tmp_path: Path) -> None:
    """public key and checkpoint are text, export writes files, retention is typed."""
    with ComplianceClient(keyed.target, timeout=120) as audit:
        key = audit.public_key()
        note = audit.checkpoint()
        files = audit.export(tmp_path / "bundle")
        swept = audit.enforce_retention("plain")
        withdrawn = audit.withdraw_consent("plain", "p", consent_ref="C-1")
    assert isinstance(key, str) and key.count("+") >= 2
    assert isinstance(note, str) and note.splitlines()[1].isdigit()
    assert "MANIFEST" in files and all((tmp_path / "bundle" / f).is_file() for f in files)
    assert all(isinstance(r, RetentionErasures) for r in swept)
    assert [r.erased for r in swept if r.collection == "plain"] in ([], [()])
    assert isinstance(withdrawn, DeleteResult) and withdrawn.erased == 1
