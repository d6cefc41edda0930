"""`biovault bench` on a tiny gallery: every contract key, sane values, a plot file.
(Correctness only - the speed numbers are for people to read, not for asserts.)"""

import json

from vault.cli.main import main

CONTRACT_KEYS = {
    "gallery",
    "dim",
    "probes",
    "batch",
    "plaintext_ms_per_probe",
    "he_ms_per_probe",
    "he_batched_ms_per_probe",
    "ratio_vs_plaintext",
    "naive_tenseal_ms_per_probe",
    "column_tenseal_ms_per_probe",
    "bytes_per_template",
    "enroll_templates_per_s",
    "max_abs_score_error",
    "top1_agreement",
    "plaintext_batched_ms_per_probe",
    "batched_ratio_vs_plaintext_batched",
    "erase_subjects_per_s",
}
STAGE_NAMES = {"product", "reduction", "decryption", "decode", "top_k"}


def test_bench_writes_every_contract_key(tmp_path, capsys):
    """A small run reports all keys, exact-enough scores and full top-1 agreement."""
    out, plot = tmp_path / "bench.json", tmp_path / "bench.png"
    code = main(
        [
            "bench",
            "--gallery",
            "300",
            "--dim",
            "64",
            "--probes",
            "4",
            "--batch",
            "2",
            "--naive-sample",
            "2",
            "--curve-points",
            "1",
            "--no-memory",
            "--json",
            str(out),
            "--plot",
            str(plot),
        ]
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert set(result) >= CONTRACT_KEYS
    assert (result["gallery"], result["dim"], result["probes"], result["batch"]) == (300, 64, 4, 2)
    assert result["max_abs_score_error"] < 1e-3 and result["top1_agreement"] == 1.0
    assert result["ratio_vs_plaintext"] > 0 and result["bytes_per_template"] > 0
    assert "scaled" in result["baselines"]["method"]
    assert result["plaintext_batched_ms_per_probe"] > 0
    assert result["erase_subjects_per_s"] > 0
    assert result["erase"]["subjects"] == result["erase"]["receipts"] == 150  # half of 300
    ratio = result["he_batched_ms_per_probe"] / result["plaintext_batched_ms_per_probe"]
    assert abs(result["batched_ratio_vs_plaintext_batched"] - ratio) < 1e-9
    # The stage clock covers the timed calls: every stage named, none negative, and
    # together no more than the wall time they were measured in.
    for kind, total in (("single", "he_ms_per_probe"), ("batched", "he_batched_ms_per_probe")):
        stages = result["stages"][kind]
        assert set(stages) >= STAGE_NAMES and min(stages.values()) >= 0
        assert 0 < sum(stages.values()) <= result[total] * 1.05
    assert plot.stat().st_size > 1000
    assert "top-1 agreement" in capsys.readouterr().out


def test_bench_runs_the_keyed_modes_through_the_same_path(tmp_path, capsys):
    """--mode hybrid / cancelable: same timing keys; the score difference is reported
    against the unprotected scores (the transform's distortion included)."""
    for mode in ("hybrid", "cancelable"):
        out = tmp_path / f"{mode}.json"
        args = ["bench", "--gallery", "200", "--dim", "128", "--probes", "4", "--batch", "2"]
        args += ["--naive-sample", "2", "--curve-points", "1", "--mode", mode]
        assert main([*args, "--json", str(out)]) == 0
        result = json.loads(out.read_text())
        assert result["mode"] == mode and "max_abs_score_error" not in result
        assert set(result) >= CONTRACT_KEYS - {"max_abs_score_error"}
        # Not small: impostors' best orbit alignment (cancelable) and the d/2 projection
        # (hybrid) move scores; top-1 must still agree.
        assert 0 < result["max_abs_score_error_vs_unprotected"] < 1.0
        assert result["top1_agreement"] == 1.0 and result["memory"] == {}
    assert "unprotected scores" in capsys.readouterr().out


def test_bench_store_url_compares_sqlite_and_postgresql(tmp_path, capsys, pg_url, postgres_server):
    """`--store-url --store-only` enrols into both backends, reports the keys, and
    leaves the PostgreSQL database as it found it (scratch schema dropped)."""
    out = tmp_path / "store.json"
    code = main(["bench", "--gallery", "300", "--dim", "64", "--store-url", pg_url,
                 "--store-only", "--json", str(out)])  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    assert result["store_backend"] == "postgresql" and result["store_gallery"] == 300
    assert min(result["enrol_per_s"], result["sqlite_enrol_per_s"]) > 0
    assert min(result["load_s"], result["sqlite_load_s"]) > 0
    enrol = result["enrol_per_s"] / result["sqlite_enrol_per_s"]
    assert abs(result["enrol_ratio_vs_sqlite"] - enrol) < 1e-9
    assert abs(result["load_ratio_vs_sqlite"] - result["sqlite_load_s"] / result["load_s"]) < 1e-9
    assert len(result["rounds"]["postgresql"]) == len(result["rounds"]["sqlite"]) >= 1
    # The same sealed blocks on both sides: sizes at rest agree within a small factor.
    pg_bytes = result["store_bytes_per_template"]
    sqlite_bytes = result["sqlite_store_bytes_per_template"]
    assert pg_bytes > 0 and sqlite_bytes > 0 and 0.1 < pg_bytes / sqlite_bytes < 10
    dump = postgres_server.pg_dump(pg_url.rsplit("/", 1)[1])
    assert b"biovault_bench_" not in dump and b"CREATE TABLE" not in dump
    assert "on PostgreSQL" in capsys.readouterr().out
