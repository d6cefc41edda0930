"""Cancelable and hybrid collections end to end: `biovault serve` on real OpenBao,
real gRPC, SQLite and TenSEAL, driven by the CLI; restart keeps the transform keys."""

import json

import numpy as np
import pytest

from tests.support.leakscan import scan_tree, template_fingerprints
from tests.support.service import ServiceProcess, cli_json, run_cli
from tests.support.synthetic import identities, samples
from vault.schemes.profile import EmbeddingProfile

DIM = 512
GALLERY = 300
CONSENT = ("--purpose", "access", "--consent-ref", "C-1", "--legal-basis", "consent")


@pytest.fixture(scope="module")
def world(tmp_path_factory, openbao_dev):
    """One running service with a cancelable and a hybrid collection, same templates."""
    root = tmp_path_factory.mktemp("keyed")
    inputs = root / "inputs"
    inputs.mkdir()
    rng = np.random.default_rng(5)
    centres = identities(GALLERY, DIM, rng)
    gallery = samples(centres, rng).astype(np.float32)
    probes = samples(centres[:20], rng).astype(np.float32)
    np.save(inputs / "gallery.npy", gallery)
    np.save(inputs / "probes.npy", probes)
    ids = [f"subject-{i:04d}" for i in range(GALLERY)]
    (inputs / "ids.txt").write_text("\n".join(ids) + "\n")
    service = ServiceProcess(
        root / "data", root / "serve.log", vault_addr=openbao_dev.addr, token=openbao_dev.token
    ).start()
    target = ("--target", service.target)
    # Other people's embeddings of the same "face model": what a profile is fitted on.
    np.save(inputs / "public.npy", identities(2 * DIM + 64, DIM, rng).astype(np.float32))
    fitted = run_cli(
        "profile", "fit", "--embeddings", str(inputs / "public.npy"),
        "--out", str(inputs / "profile.npz"),
    )  # fmt: skip
    assert fitted.returncode == 0, fitted.stderr
    for name, mode, extra in [
        ("cancelable", "cancelable", ()),
        ("hybrid", "hybrid", ()),
        ("whitened", "cancelable", ("--profile", str(inputs / "profile.npz"))),
        ("whitened-hybrid", "hybrid", ("--profile", str(inputs / "profile.npz"))),
    ]:
        created = run_cli(
            "collection", "create", *target, "--name", name, "--mode", mode,
            "--dim", str(DIM), "--allow-identification", "--purposes", "access", *extra,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        enrolled = run_cli(
            "enroll", *target, "--collection", name, "--templates",
            str(inputs / "gallery.npy"), "--ids", str(inputs / "ids.txt"), *CONSENT,
        )  # fmt: skip
        assert enrolled.returncode == 0, enrolled.stderr
    yield {
        "service": service,
        "target": target,
        "inputs": inputs,
        "ids": ids,
        "gallery": gallery,
        "probes": probes,
    }
    service.stop()


def _identify(world, mode: str) -> list:
    doc = cli_json(
        "identify", *world["target"], "--collection", mode, "--templates",
        str(world["inputs"] / "probes.npy"), "--top-k", "3", "--purpose", "access",
    )  # fmt: skip
    return doc["results"]  # type: ignore[index]


@pytest.mark.parametrize("mode", ["cancelable", "hybrid", "whitened", "whitened-hybrid"])
def test_identify_and_verify(world, tmp_path, mode: str) -> None:
    """Each genuine probe's subject is top-1; verify accepts it and rejects another."""
    results = _identify(world, mode)
    assert [r["matches"][0]["id"] for r in results] == world["ids"][:20]
    np.save(tmp_path / "q.npy", world["probes"][:1])
    base = ("verify", *world["target"], "--collection", mode, "--template", str(tmp_path / "q.npy"))
    genuine = cli_json(*base, "--id", world["ids"][0], "--purpose", "access")
    impostor = cli_json(*base, "--id", world["ids"][1], "--purpose", "access")
    assert genuine["match"] is True and impostor["match"] is False  # type: ignore[index]


def test_restart_keeps_answers_and_delete_erases(world) -> None:
    """After a restart the seeds are unwrapped again and answers are unchanged;
    a deleted subject is gone in both modes."""
    before = {mode: _identify(world, mode) for mode in ("cancelable", "hybrid")}
    service = world["service"]
    assert service.stop() == 0
    service.start()
    for mode in ("cancelable", "hybrid"):
        after = _identify(world, mode)
        assert [r["matches"][0]["id"] for r in after] == [
            r["matches"][0]["id"] for r in before[mode]
        ]
        victim = world["ids"][2]
        deleted = run_cli("delete", *world["target"], "--collection", mode, "--id", victim)
        assert deleted.returncode == 0, deleted.stderr
        assert victim not in json.dumps(_identify(world, mode))


def test_no_template_bytes_at_rest(world) -> None:
    """Neither the rotated rows nor the projected ciphertexts expose template bytes."""
    fingerprints = template_fingerprints(np.vstack([world["gallery"], world["probes"]]))
    assert scan_tree([world["service"].data_dir, world["service"].log_path], fingerprints) == {}


def test_renewal_through_the_cli(world, tmp_path) -> None:
    """`keys rotate cancelable`: new version for new enrolments, old templates keep
    matching; `--revoke-old` erases every older-version template."""
    pytest.importorskip("vault.cli.keys")
    target = world["target"]
    rotated = cli_json("keys", "rotate", "cancelable", *target, "--collection", "cancelable")
    assert rotated == {
        "kind": "cancelable",
        "collection": "cancelable",
        "key_version": 2,
        "revoked": 0,
        "templates_by_key_version": {"1": GALLERY - 1},
    }
    np.save(tmp_path / "new.npy", world["probes"][3:4])
    (tmp_path / "new.txt").write_text("newcomer\n")
    enrolled = run_cli(
        "enroll", *target, "--collection", "cancelable", "--templates",
        str(tmp_path / "new.npy"), "--ids", str(tmp_path / "new.txt"), *CONSENT,
    )  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    top = _identify(world, "cancelable")
    assert top[3]["matches"][0]["id"] in {"newcomer", world["ids"][3]}
    assert top[0]["matches"][0]["id"] == world["ids"][0]  # v1 template, still matching
    revoked = cli_json(
        "keys", "rotate", "cancelable", *target, "--collection", "cancelable", "--revoke-old"
    )
    assert revoked["key_version"] == 3 and revoked["revoked"] == GALLERY  # type: ignore[index]
    assert revoked["templates_by_key_version"] == {}  # type: ignore[index]
    status = cli_json("keys", "status", *target)
    assert status["templates_by_transform_key_version"] == {  # type: ignore[index]
        "cancelable": {},
        "hybrid": {"1": GALLERY - 1},
        "whitened": {"1": GALLERY},
        "whitened-hybrid": {"1": GALLERY},
    }
    refused = run_cli("keys", "rotate", "cancelable", *target, "--collection", "nope")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1


def test_the_profile_is_named_by_digest_and_only_where_given(world) -> None:
    """`collection get` shows the SHA-256 of the stored profile; other collections none."""
    data = (world["inputs"] / "profile.npz").read_bytes()
    digest = EmbeddingProfile.from_bytes(data).digest()
    shown = {
        name: cli_json("collection", "get", *world["target"], "--name", name)
        for name in ("whitened", "whitened-hybrid", "cancelable", "hybrid")
    }
    assert shown["whitened"]["embedding_profile_sha256"] == digest  # type: ignore[index]
    assert shown["whitened-hybrid"]["embedding_profile_sha256"] == digest  # type: ignore[index]
    assert shown["cancelable"]["embedding_profile_sha256"] is None  # type: ignore[index]
    refused = run_cli(
        "collection", "create", *world["target"], "--name", "nope", "--mode", "ckks",
        "--dim", str(DIM), "--purposes", "access",
        "--profile", str(world["inputs"] / "profile.npz"),
    )  # fmt: skip
    assert refused.returncode == 1 and "cancelable and hybrid collections only" in refused.stderr
