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
}


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
    assert plot.stat().st_size > 1000
    assert "top-1 agreement" in capsys.readouterr().out
