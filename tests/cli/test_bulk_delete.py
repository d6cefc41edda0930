"""``biovault delete --ids FILE [--receipts DIR]`` against a real server over the fake core."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli.conftest import Run
from tests.service.fakes import FakeVault, Served, unit_rows
from tests.support.service import ServiceProcess
from vault.client import VaultClient


@pytest.fixture
def faces(cli: Run, live: Served, write_npy, write_ids, rng: np.random.Generator) -> None:
    """Collection "faces" with subjects s0..s19 enrolled via the CLI."""
    created = cli(
        "collection", "create", "--target", live.target, "--name", "faces", "--mode", "ckks",
        "--dim", "8", "--allow-identification", "--purposes", "access",
    )  # fmt: skip
    assert created.code == 0, created.err
    enrolled = cli(
        "enroll", "--target", live.target, "--collection", "faces",
        "--templates", write_npy("gallery.npy", unit_rows(rng, 20, 8)),
        "--ids", write_ids("ids.txt", [f"s{i}" for i in range(20)]),
        "--purpose", "access", "--consent-ref", "c-1", "--legal-basis", "consent",
    )  # fmt: skip
    assert enrolled.code == 0, enrolled.err


def _ids(fake: FakeVault) -> list[str]:
    return list(fake._collections["faces"].ids)


def test_bulk_delete_erases_every_listed_subject(
    cli: Run, live: Served, fake: FakeVault, faces: None, write_ids
) -> None:
    """All listed subjects go, one JSON result each, in file order."""
    ids = write_ids("gone.txt", ["s3", "s1", "s7"])
    result = cli(
        "delete", "--target", live.target, "--collection", "faces", "--ids", ids, "--json", "-"
    )  # fmt: skip
    assert result.code == 0, result.err
    payload = json.loads(result.out)
    assert payload["erased"] == 3 and [r["id"] for r in payload["results"]] == ["s3", "s1", "s7"]
    assert _ids(fake) == [f"s{i}" for i in range(20) if i not in (1, 3, 7)]


def test_bulk_delete_refuses_a_bad_list_before_erasing(
    cli: Run, live: Served, fake: FakeVault, faces: None, write_ids, tmp_path: Path
) -> None:
    """A repeated id or an empty line: exit 1, one line, nobody erased; --id with --ids: usage."""
    for lines in (["s1", "s2", "s1"], ["s1", "", "s2"]):
        ids = write_ids("bad.txt", lines)
        result = cli(
            "delete", "--target", live.target, "--collection", "faces", "--ids", ids,
            "--receipts", str(tmp_path / "r"),
        )  # fmt: skip
        assert result.code == 1 and result.err.count("\n") == 1, result.err
    assert len(_ids(fake)) == 20
    both = cli(
        "delete", "--target", live.target, "--collection", "faces", "--id", "s1", "--ids", ids
    )  # fmt: skip
    assert both.code == 2 and "usage:" in both.err


def test_bulk_delete_with_an_unknown_id_erases_nothing(
    cli: Run, live: Served, fake: FakeVault, faces: None, write_ids, tmp_path: Path
) -> None:
    """One listed id not enrolled: exit 1, one line saying nothing was erased, no receipt."""
    ids = write_ids("gone.txt", ["s3", "ghost", "s7"])
    receipts = tmp_path / "receipts"
    result = cli(
        "delete", "--target", live.target, "--collection", "faces", "--ids", ids,
        "--receipts", str(receipts),
    )  # fmt: skip
    assert result.code == 1 and result.err.count("\n") == 1, result.err
    assert "NOT_FOUND" in result.err and "nothing was erased" in result.err
    assert len(_ids(fake)) == 20 and list(receipts.iterdir()) == []


def test_bulk_delete_is_one_call(
    cli: Run, live: Served, fake: FakeVault, faces: None, write_ids
) -> None:
    """The whole list goes to the core's bulk erasure at once, not subject by subject."""
    ids = write_ids("gone.txt", [f"s{i}" for i in range(12)])
    result = cli("delete", "--target", live.target, "--collection", "faces", "--ids", ids)
    assert result.code == 0, result.err
    names = [name for name, _ in fake.calls]
    assert names.count("delete_many") == 1 and "delete" not in names
    assert _ids(fake) == [f"s{i}" for i in range(12, 20)]


def test_bulk_delete_receipts_verify_against_the_real_service(
    cli: Run, real_service: ServiceProcess, write_npy, write_ids, tmp_path: Path
) -> None:
    """A real CKKS collection: an unknown id erases nobody; then every listed subject
    is gone and each receipt file passes `audit verify-receipt` as a delete of its id."""
    t = ("--target", real_service.target)
    gallery = unit_rows(np.random.default_rng(7), 40, 16)
    key = tmp_path / "key.pub"
    assert cli("audit", "public-key", *t, "--out", str(key)).code == 0
    made = cli("collection", "create", *t, "--name", "bulk", "--mode", "ckks", "--dim", "16",
               "--purposes", "access")  # fmt: skip
    assert made.code == 0, made.err
    enrolled = cli(
        "enroll", *t, "--collection", "bulk",
        "--templates", write_npy("g.npy", gallery),
        "--ids", write_ids("all.txt", [f"p{i}" for i in range(40)]),
        "--purpose", "access", "--consent-ref", "c-1", "--legal-basis", "consent",
    )  # fmt: skip
    assert enrolled.code == 0, enrolled.err
    receipts = tmp_path / "receipts"
    gone = [f"p{i}" for i in (5, 0, 17, 39, 22)]
    bad = write_ids("bad.txt", [*gone, "ghost"])
    refused = cli("delete", *t, "--collection", "bulk", "--ids", bad, "--receipts", str(receipts))
    assert refused.code == 1 and "nothing was erased" in refused.err, refused.err
    with VaultClient(real_service.target, timeout=60) as client:
        assert client.get_collection("bulk").size == 40
    done = cli("delete", *t, "--collection", "bulk", "--ids", write_ids("gone.txt", gone),
               "--receipts", str(receipts), "--json", "-")  # fmt: skip
    assert done.code == 0, done.err
    assert json.loads(done.out)["erased"] == 5
    assert sorted(p.name for p in receipts.iterdir()) == sorted(f"{s}.json" for s in gone)
    for subject_id in gone:
        checked = cli("audit", "verify-receipt", "--receipt", str(receipts / f"{subject_id}.json"),
                      "--public-key", str(key), "--json", "-")  # fmt: skip
        assert checked.code == 0, checked.err
        verdict = json.loads(checked.out)
        assert verdict["verified"] is True and verdict["action"] == "delete"
    with VaultClient(real_service.target, timeout=60) as client:
        assert client.get_collection("bulk").size == 35
        assert client.verify("bulk", "p16", gallery[16], purpose="access").match
        assert not client.verify("bulk", "p17", gallery[17], purpose="access").match


def test_a_refused_later_chunk_says_what_was_erased(
    cli: Run,
    live: Served,
    fake: FakeVault,
    faces: None,
    write_ids,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chunks of 3: the unknown id in the third chunk leaves the first six erased,
    and the one error line says so."""
    monkeypatch.setattr("vault.cli.bulk_delete.DELETE_MANY_CHUNK", 3)
    ids = write_ids("gone.txt", [f"s{i}" for i in range(6)] + ["ghost"])
    result = cli("delete", "--target", live.target, "--collection", "faces", "--ids", ids)
    assert result.code == 1 and result.err.count("\n") == 1, result.err
    assert "the first 6 of 7 listed subjects were erased" in result.err
    assert _ids(fake) == [f"s{i}" for i in range(6, 20)]
