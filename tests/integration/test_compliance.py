"""Compliance end to end: `biovault serve` (child process) on real OpenBao, gRPC, SQLite
and TenSEAL, driven by the CLI - consent and purpose rules, erasure receipts,
retention, and an auditor verifying an exported bundle offline."""

import json
import shutil
import time

import grpc
import numpy as np
import pytest

from tests.support.leakscan import hits_in_bytes, scan_tree, template_fingerprints
from tests.support.service import ServiceProcess, cli_json, run_cli
from tests.support.synthetic import identities, samples
from vault.client import ClientError, VaultClient

DIM = 64
CONSENT = ("--purpose", "access", "--consent-ref", "form-2025-17", "--legal-basis", "gdpr-art9-2a")
SHORT_RETENTION = 4.0


def _ok(*args):
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def day(tmp_path_factory, openbao_dev, service_store):
    """A service with a day of traffic in miniature, and what the auditor kept meanwhile."""
    root = tmp_path_factory.mktemp("compliance")
    inputs, kept = root / "inputs", root / "auditor"
    inputs.mkdir()
    kept.mkdir()
    rng = np.random.default_rng(17)
    gallery = samples(identities(30, DIM, rng), rng).astype(np.float32)
    np.save(inputs / "gallery.npy", gallery)
    (inputs / "ids.txt").write_text("".join(f"p{i:02d}\n" for i in range(30)))
    short_a, short_b = gallery[:3].copy(), gallery[3:5].copy()
    np.save(inputs / "a.npy", short_a)
    np.save(inputs / "b.npy", short_b)
    (inputs / "a.txt").write_text("a0\na1\na2\n")
    (inputs / "b.txt").write_text("b0\nb1\n")
    np.save(inputs / "probe.npy", gallery[7:8])

    service = ServiceProcess(
        root / "data",
        root / "serve.log",
        vault_addr=openbao_dev.addr,
        token=openbao_dev.token,
        extra_args=("--retention-interval", "0", *service_store.args),
    ).start()
    t = ("--target", service.target)
    _ok("audit", "public-key", *t, "--out", str(kept / "key.pub"))
    _ok("collection", "create", *t, "--name", "faces", "--mode", "ckks", "--dim", str(DIM),
        "--allow-identification", "--purposes", "access,border")  # fmt: skip
    _ok("collection", "create", *t, "--name", "short", "--mode", "ckks", "--dim", str(DIM),
        "--purposes", "access", "--retention", f"{SHORT_RETENTION:g}s")  # fmt: skip
    _ok("enroll", *t, "--collection", "faces", "--templates", str(inputs / "gallery.npy"),
        "--ids", str(inputs / "ids.txt"), *CONSENT)  # fmt: skip
    enrolled_a = time.time()
    _ok("enroll", *t, "--collection", "short", "--templates", str(inputs / "a.npy"),
        "--ids", str(inputs / "a.txt"), *CONSENT)  # fmt: skip
    _ok("audit", "checkpoint", *t, "--out", str(kept / "morning.checkpoint"))
    yield {
        "service": service,
        "t": t,
        "inputs": inputs,
        "kept": kept,
        "root": root,
        "gallery": gallery,
        "enrolled_a": enrolled_a,
        "store": service_store,
    }
    service.stop()


def test_requests_must_state_a_declared_purpose(day):
    """Verify with a declared purpose works; another or none is refused and logged."""
    t, probe = day["t"], str(day["inputs"] / "probe.npy")
    answer = cli_json("verify", *t, "--collection", "faces", "--id", "p07", "--template", probe,
                      "--purpose", "border")  # fmt: skip
    assert answer["match"] is True
    refused = run_cli("verify", *t, "--collection", "faces", "--id", "p07", "--template", probe,
                      "--purpose", "marketing")  # fmt: skip
    assert refused.returncode == 1 and "FAILED_PRECONDITION" in refused.stderr
    missing = run_cli("identify", *t, "--collection", "faces", "--templates", probe)
    assert missing.returncode == 2 and "--purpose" in missing.stderr
    one_to_many = run_cli("identify", *t, "--collection", "short", "--templates", probe,
                          "--purpose", "access")  # fmt: skip
    assert one_to_many.returncode == 1 and "not enabled" in one_to_many.stderr


def test_enrolment_without_consent_is_refused_by_the_service(day):
    """Even a client that skips the CLI's required flags gets FAILED_PRECONDITION."""
    with VaultClient(day["service"].target, timeout=60) as client:
        with pytest.raises(ClientError) as refused:
            client.enroll("faces", ["intruder"], day["gallery"][:1], purpose="access")
        assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert "consent" in refused.value.details
        assert client.get_collection("faces").size == 30


def test_delete_receipt_verifies_offline(day):
    """Delete writes a receipt that `audit verify-receipt` accepts, and a tampered one fails."""
    t, kept = day["t"], day["kept"]
    _ok("delete", *t, "--collection", "faces", "--id", "p03", "--receipt", str(kept / "r.json"))
    done = cli_json("audit", "verify-receipt", "--receipt", str(kept / "r.json"),
                    "--public-key", str(kept / "key.pub"))  # fmt: skip
    assert done["verified"] is True and done["action"] == "delete"
    record = json.loads((kept / "r.json").read_text())
    record["entry"] = record["entry"].replace('"delete"', '"delets"')
    (kept / "forged.json").write_text(json.dumps(record))
    forged = run_cli("audit", "verify-receipt", "--receipt", str(kept / "forged.json"),
                     "--public-key", str(kept / "key.pub"))  # fmt: skip
    assert forged.returncode == 1 and "FAILED" in forged.stderr


def test_consent_withdrawal_erases(day):
    """Withdrawing consent erases the subject and returns a receipt."""
    t = day["t"]
    result = cli_json("consent", "withdraw", *t, "--collection", "faces", "--id", "p04",
                      "--consent-ref", "form-2025-17")  # fmt: skip
    assert result["erased"] == 1 and result["receipt"]["leaf_index"] > 0
    probe = str(day["inputs"] / "probe.npy")
    top = cli_json("identify", *t, "--collection", "faces", "--templates", probe,
                   "--top-k", "30", "--purpose", "access")  # fmt: skip
    assert "p04" not in {m["id"] for m in top["results"][0]["matches"]}


def test_retention_enforce_erases_exactly_the_expired(day):
    """After the short collection's period, enforce erases a0-a2 and keeps b0-b1."""
    t, inputs = day["t"], day["inputs"]
    time.sleep(max(0.0, day["enrolled_a"] + SHORT_RETENTION + 0.5 - time.time()))
    _ok("enroll", *t, "--collection", "short", "--templates", str(inputs / "b.npy"),
        "--ids", str(inputs / "b.txt"), *CONSENT)  # fmt: skip
    result = cli_json("retention", "enforce", *t)
    erased = {c["collection"]: sorted(c["erased_ids"]) for c in result["collections"]}
    assert erased == {"faces": [], "short": ["a0", "a1", "a2"]}
    assert cli_json("collection", "get", *t, "--name", "short")["size"] == 2


def test_auditor_verifies_the_day_and_catches_tampering(day):
    """Export, verify against what was kept, report; then any edit is caught and named."""
    t, kept, root = day["t"], day["kept"], day["root"]
    bundle = root / "bundle"
    exported = cli_json("audit", "export", *t, "--out", str(bundle))
    assert exported["tree_size"] >= 12
    key = ("--public-key", str(kept / "key.pub"))
    for previous in ("morning.checkpoint", "r.json"):
        verdict = cli_json("audit", "verify", "--bundle", str(bundle), *key,
                           "--previous-checkpoint", str(kept / previous))  # fmt: skip
        assert verdict["verified"] is True and verdict["tree_size"] == exported["tree_size"]
    summary = cli_json("audit", "report", "--bundle", str(bundle), *key)
    actions = summary["actions"]
    assert actions["verify"]["outcomes"] == {"ok": 1, "FailedPrecondition": 1}
    assert actions["enroll"]["outcomes"]["FailedPrecondition"] == 1
    assert actions["retention.erase"]["total"] == 3
    assert {e["action"] for e in summary["erasures"]} == {
        "delete",
        "consent.withdraw",
        "retention.erase",
    }
    assert summary["collections"]["short"]["retention_seconds"] == SHORT_RETENTION
    assert summary["purposes"]["marketing"] == {"verify": 1}
    assert summary["key_events"][0]["action"] == "service.start"
    markdown = _ok("audit", "report", "--bundle", str(bundle), *key).stdout
    assert "## Erasures" in markdown and "retention.erase" in markdown

    tampered = root / "tampered"
    shutil.copytree(bundle, tampered)
    lines = (tampered / "entries.jsonl").read_bytes().splitlines(keepends=True)
    lines[5] = lines[5].replace(b'"ok"', b'"ko"', 1)
    (tampered / "entries.jsonl").write_bytes(b"".join(lines))
    caught = run_cli("audit", "verify", "--bundle", str(tampered), *key)
    assert caught.returncode == 1 and "at entry 5" in caught.stderr
    (tampered / "entries.jsonl").write_bytes(b"".join(lines[:5]))
    truncated = run_cli("audit", "verify", "--bundle", str(tampered), *key)
    assert truncated.returncode == 1 and "entry 5" in truncated.stderr


def test_no_template_reaches_the_log_or_the_bundle(day):
    """No enrolled template or probe, in any encoding, is in audit.db or the bundle."""
    fingerprints = template_fingerprints(day["gallery"])
    store = day["store"]
    log = [day["root"] / "data" / "audit.db"] if store.server is None else []
    targets = [*log, day["root"] / "bundle"]
    assert all(p.exists() for p in targets)
    assert scan_tree(targets, fingerprints) == {}
    if store.server is not None:  # the log's rows are in the database: scan a dump
        dump = store.dump()
        assert b"COPY public.audit_entries" in dump and hits_in_bytes(dump, fingerprints) == 0


def test_the_log_survives_a_restart_and_stays_consistent(day):
    """After a restart the same log continues: a new bundle extends the earlier one."""
    service, t, kept, root = day["service"], day["t"], day["kept"], day["root"]
    assert service.stop() == 0
    service.start()
    _ok("audit", "export", *t, "--out", str(root / "evening"))
    verdict = cli_json("audit", "verify", "--bundle", str(root / "evening"),
                       "--public-key", str(kept / "key.pub"),
                       "--previous-checkpoint", str(root / "bundle"))  # fmt: skip
    assert verdict["verified"] and verdict["previous_checkpoint_size"] < verdict["tree_size"]
    starts = [k["details"]["audit_key"] for k in cli_json(
        "audit", "report", "--bundle", str(root / "evening"), "--public-key",
        str(kept / "key.pub"))["key_events"] if k["action"] == "service.start"]  # fmt: skip
    assert starts == ["created", "loaded"]


def test_scheduled_retention_runs_in_the_service(tmp_path, openbao_dev):
    """With a 1 s schedule, expired templates disappear without anyone asking."""
    service = ServiceProcess(
        tmp_path / "data",
        tmp_path / "serve.log",
        vault_addr=openbao_dev.addr,
        token=openbao_dev.token,
        extra_args=("--retention-interval", "1"),
    ).start()
    try:
        t = ("--target", service.target)
        np.save(tmp_path / "x.npy", identities(2, DIM, np.random.default_rng(3)).astype(np.float32))
        (tmp_path / "x.txt").write_text("x0\nx1\n")
        _ok("collection", "create", *t, "--name", "brief", "--mode", "ckks", "--dim", str(DIM),
            "--purposes", "access", "--retention", "2s")  # fmt: skip
        _ok("enroll", *t, "--collection", "brief", "--templates", str(tmp_path / "x.npy"),
            "--ids", str(tmp_path / "x.txt"), *CONSENT)  # fmt: skip
        assert cli_json("collection", "get", *t, "--name", "brief")["size"] == 2
        deadline = time.monotonic() + 20
        while cli_json("collection", "get", *t, "--name", "brief")["size"] and (
            time.monotonic() < deadline
        ):
            time.sleep(0.5)
        assert cli_json("collection", "get", *t, "--name", "brief")["size"] == 0
    finally:
        assert service.stop() == 0
