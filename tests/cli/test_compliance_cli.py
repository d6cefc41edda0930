"""The consent flags CONTRACT.md makes required, retention durations, and offline audit
commands' failure modes (one line, exit 1)."""

from __future__ import annotations

import argparse

import pytest

from tests.audit.conftest import event, write_bundle
from tests.cli.conftest import Run
from vault.audit.bundle import export_bundle
from vault.audit.log import MerkleAuditLog
from vault.audit.note import NoteSigner
from vault.cli.collection import duration


@pytest.mark.parametrize(
    "args",
    [
        ["collection", "create", "--name", "c", "--mode", "ckks", "--dim", "4"],
        ["enroll", "--collection", "c", "--templates", "x.npy", "--ids", "i.txt"],
        ["enroll", "--collection", "c", "--templates", "x.npy", "--ids", "i.txt",
         "--purpose", "p", "--consent-ref", "r"],
        ["verify", "--collection", "c", "--id", "a", "--template", "q.npy"],
        ["identify", "--collection", "c", "--templates", "q.npy"],
        ["collection", "create", "--name", "c", "--mode", "ckks", "--dim", "4",
         "--purposes", "p", "--retention", "forever"],
        ["audit", "verify", "--bundle", "b"],
        ["consent", "withdraw", "--collection", "c", "--id", "a"],
    ],
)  # fmt: skip
def test_consent_and_purpose_flags_are_required(cli: Run, args: list[str]) -> None:
    """Without purpose, consent reference or legal basis the CLI stops with a usage error."""
    result = cli(*args)
    assert result.code == 2 and "usage:" in result.err


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("12h", 43_200), ("30d", 2_592_000), ("1.5y", 47_304_000)]
)
def test_retention_durations(text: str, seconds: float) -> None:
    """Durations take a unit: s, m, h, d, w or y."""
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "0d", "-1d", "3 years"])
def test_bad_retention_durations(text: str) -> None:
    """Unit-less, zero, negative or spelled-out durations are refused."""
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)


@pytest.fixture
def bundle_and_key(tmp_path):
    signer = NoteSigner.generate("biovault.local/audit/cli")
    log = MerkleAuditLog(tmp_path / "audit.db", signer)
    for i in range(4):
        log.append(event(i))
    bundle = write_bundle(export_bundle(log), tmp_path / "bundle")
    log.close()
    key = tmp_path / "key.pub"
    key.write_text(signer.verifier_key + "\n")
    return bundle, key


def test_verify_and_report_offline(cli: Run, bundle_and_key) -> None:
    """verify exits 0 and says so; report prints Markdown with the action table."""
    bundle, key = bundle_and_key
    ok = cli("audit", "verify", "--bundle", str(bundle), "--public-key", str(key))
    assert ok.code == 0 and "bundle verified: 4 entries" in ok.out
    report = cli("audit", "report", "--bundle", str(bundle), "--public-key", str(key))
    assert report.code == 0 and "| verify | 4 | ok: 4 |" in report.out


def test_verify_failure_is_one_line_naming_the_entry(cli: Run, bundle_and_key) -> None:
    """A tampered entry gives exit 1, one stderr line, the entry's number - and JSON says so."""
    bundle, key = bundle_and_key
    entries = bundle / "entries.jsonl"
    entries.write_bytes(entries.read_bytes().replace(b'"peer-2"', b'"peer-9"', 1))
    result = cli(
        "audit", "verify", "--bundle", str(bundle), "--public-key", str(key), "--json", "-"
    )
    assert result.code == 1 and result.err.count("\n") == 1
    assert "FAILED at entry 2" in result.err and '"first_bad_entry": 2' in result.out


def test_unusable_inputs_are_one_line(cli: Run, bundle_and_key, tmp_path) -> None:
    """A missing bundle, a file that is not a key or a missing receipt: exit 1, one line."""
    bundle, key = bundle_and_key
    not_a_key = tmp_path / "nonsense.pub"
    not_a_key.write_text("hello")
    for args in (
        ["audit", "verify", "--bundle", str(tmp_path / "none"), "--public-key", str(key)],
        ["audit", "verify", "--bundle", str(bundle), "--public-key", str(not_a_key)],
        [
            "audit",
            "verify-receipt",
            "--receipt",
            str(tmp_path / "r.json"),
            "--public-key",
            str(key),
        ],
    ):
        result = cli(*args)
        assert result.code == 1 and result.err.count("\n") == 1, args
        assert "Traceback" not in result.err


def test_missing_previous_checkpoint_is_one_clear_line(cli: Run, bundle_and_key, tmp_path) -> None:
    """A --previous-checkpoint that does not exist (a first audit) names the file and what
    to keep, with no raw errno."""
    bundle, key = bundle_and_key
    missing = tmp_path / "last.checkpoint"
    for command in ("verify", "report"):
        result = cli(
            "audit", command, "--bundle", str(bundle), "--public-key", str(key),
            "--previous-checkpoint", str(missing),
        )  # fmt: skip
        lines = result.err.strip().splitlines()
        assert result.code == 1 and len(lines) == 1, result.err
        assert "Errno" not in lines[0] and str(missing) in lines[0]
        assert "does not exist" in lines[0] and "audit checkpoint" in lines[0]
