"""Measurement, not a test (the name keeps it out of the default collection):

    .venv/bin/python -m pytest tests/cli/bench_bulk_delete.py -q -s

A real service (OpenBao, gRPC, SQLite, TenSEAL) with a 32,768-template CKKS
collection (dim 512). `biovault delete --ids FILE --receipts DIR` (a child
process, so import and connection are included) erases 1,000 random subjects
through DeleteMany; then the old path - one Delete RPC per subject and its receipt
written, the loop the command ran before - erases 100 other random subjects of
the same collection in the same run. Prints subjects/s of both and their ratio.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from tests.service.fakes import unit_rows
from tests.support.openbao import DevServer
from tests.support.service import ServiceProcess, run_cli
from vault.cli.compliance import write_receipt
from vault.client import VaultClient
from vault.types import CollectionSpec, ProtectionMode

GALLERY, DIM, BULK, OLD = 32_768, 512, 1_000, 100


@pytest.mark.timeout(1800)
def test_measure_bulk_delete(openbao_dev: DevServer, tmp_path: Path) -> None:
    service = ServiceProcess(
        tmp_path / "data", tmp_path / "serve.log", vault_addr=openbao_dev.addr,
        token=openbao_dev.token,
    ).start()  # fmt: skip
    try:
        rng = np.random.default_rng(2026)
        ids = [f"u{i:05d}" for i in range(GALLERY)]
        with VaultClient(service.target, timeout=600) as client:
            client.create_collection(
                CollectionSpec("big", ProtectionMode.CKKS, DIM, purposes=("access",))
            )
            started = time.perf_counter()
            client.enroll("big", ids, unit_rows(rng, GALLERY, DIM).astype(np.float32),
                          purpose="access", consent_ref="c-1", legal_basis="consent")  # fmt: skip
            enrol_s = time.perf_counter() - started
        picked = rng.choice(GALLERY, BULK + OLD, replace=False)
        bulk = [ids[i] for i in picked[:BULK]]
        old = [ids[i] for i in picked[BULK:]]
        ids_file = tmp_path / "gone.txt"
        ids_file.write_text("".join(f"{s}\n" for s in bulk), encoding="utf-8")
        receipts = tmp_path / "receipts"

        started = time.perf_counter()
        done = run_cli("delete", "--target", service.target, "--collection", "big",
                       "--ids", str(ids_file), "--receipts", str(receipts))  # fmt: skip
        bulk_s = time.perf_counter() - started
        assert done.returncode == 0, done.stderr
        assert len(list(receipts.iterdir())) == BULK

        old_dir = tmp_path / "old"
        old_dir.mkdir()
        with VaultClient(service.target, timeout=600) as client:
            started = time.perf_counter()
            for subject_id in old:
                result = client.delete("big", subject_id, purpose="erasure-request")
                write_receipt(str(old_dir / f"{quote(subject_id, safe='')}.json"), result)
            old_s = time.perf_counter() - started
            size = client.get_collection("big").size
        assert size == GALLERY - BULK - OLD
        figures = {
            "gallery": GALLERY,
            "dim": DIM,
            "enrol_templates_per_s": round(GALLERY / enrol_s, 1),
            "bulk_cli_subjects": BULK,
            "bulk_cli_seconds": round(bulk_s, 3),
            "bulk_cli_subjects_per_s": round(BULK / bulk_s, 1),
            "old_per_subject_subjects": OLD,
            "old_per_subject_seconds": round(old_s, 3),
            "old_per_subject_subjects_per_s": round(OLD / old_s, 2),
            "speedup": round((BULK / bulk_s) / (OLD / old_s), 1),
        }
        print(json.dumps(figures, indent=2))
    finally:
        service.stop()
