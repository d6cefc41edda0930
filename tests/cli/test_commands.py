"""The Service commands of CONTRACT.md, run through ``main([...])`` against a real server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.cli.conftest import Run
from tests.service.fakes import FakeVault, Served, unit_rows
from vault.types import ProtectionMode

DIM = 8
WriteNpy = Callable[[str, np.ndarray], str]
WriteIds = Callable[[str, list[str]], str]


@pytest.fixture
def gallery(
    cli: Run, live: Served, write_npy: WriteNpy, write_ids: WriteIds, rng: np.random.Generator
) -> np.ndarray:
    """Collection "faces" (identification on) with subjects s0..s19 enrolled via the CLI."""
    created = cli(
        "collection", "create", "--target", live.target, "--name", "faces", "--mode", "ckks",
        "--dim", str(DIM), "--allow-identification", "--purposes", "access,border",
    )  # fmt: skip
    assert created.code == 0, created.err
    rows = unit_rows(rng, 20, DIM)
    enrolled = cli(
        "enroll", "--target", live.target, "--collection", "faces",
        "--templates", write_npy("gallery.npy", rows),
        "--ids", write_ids("ids.txt", [f"s{i}" for i in range(20)]),
        "--purpose", "access", "--consent-ref", "c-1", "--legal-basis", "consent",
    )  # fmt: skip
    assert enrolled.code == 0, enrolled.err
    return rows


def test_collection_create_passes_every_flag(cli: Run, live: Served, fake: FakeVault) -> None:
    """Name, mode, dim, identification, purposes and threshold reach the core; JSON echoes them."""
    result = cli(
        "collection", "create", "--target", live.target, "--name", "c1", "--mode", "hybrid",
        "--dim", "512", "--allow-identification", "--purposes", "a, b", "--threshold", "0.4",
        "--json", "-",
    )  # fmt: skip
    assert result.code == 0, result.err
    spec = fake.calls[0][1][0]
    assert (spec.name, spec.mode, spec.dim, spec.allow_identification) == (
        "c1",
        ProtectionMode.HYBRID,
        512,
        True,
    )
    assert (spec.purposes, spec.match_threshold) == (("a", "b"), 0.4)
    payload = json.loads(result.out)
    assert payload["name"] == "c1" and payload["mode"] == "hybrid" and payload["size"] == 0


def test_collection_get_describes_the_collection(
    cli: Run, live: Served, gallery: np.ndarray
) -> None:
    """`collection get` reports the enrolled size."""
    result = cli("collection", "get", "--target", live.target, "--name", "faces", "--json", "-")
    assert result.code == 0
    assert json.loads(result.out)["size"] == len(gallery)


def test_enroll_passes_the_consent_flags(
    cli: Run, live: Served, fake: FakeVault, gallery: np.ndarray
) -> None:
    """Purpose, consent reference and legal basis reach the core with all 20 rows."""
    ctx = fake.contexts[-1]
    assert (ctx.purpose, ctx.consent_ref, ctx.legal_basis) == ("access", "c-1", "consent")
    assert fake.get_collection("faces", ctx).size == 20


def test_enroll_output_names_the_count(
    cli: Run, live: Served, write_npy: WriteNpy, write_ids: WriteIds, rng: np.random.Generator
) -> None:
    """Stdout says how many were enrolled; batched runs show progress on stderr."""
    cli(
        "collection",
        "create",
        "--target",
        live.target,
        "--name",
        "c",
        "--mode",
        "ckks",
        "--dim",
        "8",
        "--purposes",
        "access",
    )
    result = cli(
        "enroll", "--target", live.target, "--collection", "c",
        "--templates", write_npy("x.npy", unit_rows(rng, 50, DIM).astype(np.float64)),
        "--ids", write_ids("x.txt", [f"id{i}" for i in range(50)]), "--batch-rows", "7",
        "--purpose", "access", "--consent-ref", "c-1", "--legal-basis", "consent",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.strip() == "enrolled 50 templates into c"
    assert "sent 50/50 templates (100%)" in result.err


def test_verify_json_has_exactly_match_and_score(
    cli: Run, live: Served, gallery: np.ndarray, write_npy: WriteNpy, tmp_path: Path
) -> None:
    """Verify writes {"match": bool, "score": float} to a file; 1-D probes are accepted."""
    out = tmp_path / "verify.json"
    result = cli(
        "verify", "--target", live.target, "--collection", "faces", "--id", "s4",
        "--template", write_npy("q.npy", gallery[4]), "--purpose", "access", "--json", str(out),
    )  # fmt: skip
    assert result.code == 0, result.err
    payload = json.loads(out.read_text())
    assert set(payload) == {"match", "score"}
    assert payload["match"] is True and isinstance(payload["score"], float)
    assert result.out.startswith("match")


def test_verify_of_another_subject_is_no_match(
    cli: Run, live: Served, gallery: np.ndarray, write_npy: WriteNpy
) -> None:
    """A probe of s4 claimed as s5 gives match false (exit 0: a decision, not a failure)."""
    result = cli(
        "verify", "--target", live.target, "--collection", "faces", "--id", "s5",
        "--template", write_npy("q.npy", gallery[4:5]), "--purpose", "access", "--json", "-",
    )  # fmt: skip
    assert result.code == 0
    assert json.loads(result.out)["match"] is False


def test_identify_json_shape(
    cli: Run, live: Served, gallery: np.ndarray, write_npy: WriteNpy
) -> None:
    """Identify gives one {"matches": [{"id", "score"}...]} per probe row, best first."""
    result = cli(
        "identify", "--target", live.target, "--collection", "faces",
        "--templates", write_npy("q.npy", gallery[[3, 9]]), "--top-k", "4",
        "--purpose", "search", "--json", "-",
    )  # fmt: skip
    assert result.code == 0, result.err
    payload = json.loads(result.out)
    assert set(payload) == {"results", "top_k_capped"} and len(payload["results"]) == 2
    assert payload["top_k_capped"] is False
    for expected, entry in zip(["s3", "s9"], payload["results"], strict=True):
        assert set(entry) == {"matches"} and len(entry["matches"]) == 4
        assert all(set(m) == {"id", "score"} for m in entry["matches"])
        assert entry["matches"][0]["id"] == expected
        scores = [m["score"] for m in entry["matches"]]
        assert scores == sorted(scores, reverse=True)


def test_delete_erases_the_subject(
    cli: Run, live: Served, fake: FakeVault, gallery: np.ndarray
) -> None:
    """Delete succeeds once, then fails with exit 1 and a NOT_FOUND line."""
    first = cli("delete", "--target", live.target, "--collection", "faces", "--id", "s0")
    assert first.code == 0 and "erased 1" in first.out
    again = cli("delete", "--target", live.target, "--collection", "faces", "--id", "s0")
    assert again.code == 1 and again.err.count("\n") == 1 and "NOT_FOUND" in again.err


def test_health_is_zero_only_when_serving(cli: Run, live: Served, fake: FakeVault) -> None:
    """Health exits 0 while SERVING and 1 once the core stops serving."""
    assert cli("health", "--target", live.target).code == 0
    fake.serving = False
    live.health.refresh()
    result = cli("health", "--target", live.target)
    assert result.code == 1 and "NOT_SERVING" in result.err


def test_health_of_nothing_listening_is_one(cli: Run) -> None:
    """Health against a closed port exits 1 with one line."""
    result = cli("health", "--target", "127.0.0.1:1")
    assert result.code == 1 and result.err.count("\n") == 1


def test_identify_refused_without_identification(
    cli: Run, live: Served, write_npy: WriteNpy, rng: np.random.Generator
) -> None:
    """Identify in a collection without --allow-identification exits 1 (FAILED_PRECONDITION)."""
    cli(
        "collection",
        "create",
        "--target",
        live.target,
        "--name",
        "v",
        "--mode",
        "cancelable",
        "--dim",
        "8",
        "--purposes",
        "access",
    )
    result = cli(
        "identify", "--target", live.target, "--collection", "v",
        "--templates", write_npy("q.npy", unit_rows(rng, 1, DIM)), "--top-k", "1",
        "--purpose", "access",
    )  # fmt: skip
    assert result.code == 1 and "FAILED_PRECONDITION" in result.err
