"""``biovault evaluate`` on a small synthetic set: every mode, every contract key."""

import json

import numpy as np
import pytest

from tests.support.synthetic import identities, samples
from vault.cli.main import main

CONTRACT_KEYS = {
    "mode",
    "templates",
    "genuine_pairs",
    "impostor_pairs",
    "eer",
    "tar_at_far",
    "plaintext_eer",
    "plaintext_tar_at_far",
}
EXTRA_KEYS = {
    "plaintext": set(),
    "ckks": {"max_abs_score_error"},
    "cancelable": {
        "dsys",
        "inversion_success_rate",
        "inversion_attacks",
        "inversion_template_free",
    },
    "hybrid": {
        "max_abs_score_error",
        "dsys",
        "inversion_success_rate",
        "inversion_attacks",
        "inversion_success_rate_all_keys",
        "inversion_template_free",
    },
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[str, str]:
    rng = np.random.default_rng(0)
    centres = identities(20, 128, rng)
    rows = np.concatenate([samples(centres, rng) for _ in range(3)]).astype(np.float32)
    labels = np.tile(np.arange(20), 3)
    folder = tmp_path_factory.mktemp("evaluate")
    np.save(folder / "x.npy", rows)
    np.save(folder / "y.npy", labels)
    return str(folder / "x.npy"), str(folder / "y.npy")


@pytest.mark.parametrize("mode", ["plaintext", "ckks", "cancelable", "hybrid"])
def test_every_mode_writes_the_contract_keys(dataset, tmp_path, mode: str) -> None:
    """All pairs are counted; keys and value ranges follow CONTRACT.md."""
    x, y = dataset
    out = tmp_path / "result.json"
    argv = ["evaluate", "--embeddings", x, "--labels", y, "--mode", mode, "--json", str(out)]
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    assert CONTRACT_KEYS | EXTRA_KEYS[mode] <= set(doc)
    assert (doc["templates"], doc["genuine_pairs"], doc["impostor_pairs"]) == (60, 60, 1710)
    assert set(doc["tar_at_far"]) == {"1e-3", "1e-4"} == set(doc["plaintext_tar_at_far"])
    assert doc["plaintext_eer"] == 0.0
    assert 0.0 <= doc["eer"] <= 0.05
    if "max_abs_score_error" in doc:
        assert doc["max_abs_score_error"] < 1e-3
    if mode == "cancelable":
        assert doc["dsys"] < 0.3 and doc["inversion_success_rate"] <= 0.2
        assert {"population_prior", "nearest_faces", "discriminator"} <= set(
            doc["inversion_attacks"]
        )


def test_plot_draws_det_curves(dataset, tmp_path) -> None:
    """--plot writes a PNG next to the JSON on stdout."""
    x, y = dataset
    png = tmp_path / "det.png"
    argv = ["evaluate", "--embeddings", x, "--labels", y, "--mode", "plaintext", "--plot", str(png)]
    assert main([*argv, "--json", "-"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_misaligned_labels_are_one_line_errors(dataset, tmp_path, capsys) -> None:
    """Labels that do not align with the rows fail with exit 1 and one stderr line."""
    x, _ = dataset
    np.save(tmp_path / "short.npy", np.arange(3))
    argv = ["evaluate", "--embeddings", x, "--labels", str(tmp_path / "short.npy")]
    assert main([*argv, "--mode", "plaintext"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "labels" in err[0]
    assert main([*argv, "--mode", "nonsense"]) == 2


def test_text_labels_work_and_pickled_labels_are_refused(dataset, tmp_path, capsys) -> None:
    """Names as fixed-width text evaluate like integers; an object array is never
    unpickled and the error says how to save the labels instead."""
    x, y = dataset
    names = np.array([f"person {label}" for label in np.load(y)])
    np.save(tmp_path / "names.npy", names)
    argv = ["evaluate", "--embeddings", x, "--mode", "plaintext", "--json", "-"]
    assert main([*argv, "--labels", str(tmp_path / "names.npy")]) == 0
    assert json.loads(capsys.readouterr().out)["genuine_pairs"] == 60
    np.save(tmp_path / "objects.npy", names.astype(object), allow_pickle=True)
    assert main([*argv, "--labels", str(tmp_path / "objects.npy")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "never unpickled" in err[0] and "dtype=str" in err[0]


def test_a_set_too_large_for_memory_is_refused_before_any_work(
    dataset, tmp_path, monkeypatch, capsys
) -> None:
    """With less memory available than the n^2 score matrices need, evaluate stops at
    once with one line that says how much it needs, and writes nothing."""
    from vault.evaluation import runner

    def no_scoring(*args: object) -> None:
        raise AssertionError("scored a set that does not fit")

    scoring = runner.products
    monkeypatch.setattr(runner, "products", no_scoring)
    monkeypatch.setattr(runner, "available_bytes", lambda: 100_000_000)
    x, y = dataset
    out = tmp_path / "result.json"
    argv = ["evaluate", "--embeddings", x, "--labels", y, "--mode", "ckks", "--json", str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "60 templates" in err[0] and "0.1 GB is available" in err[0]
    assert not out.exists()
    monkeypatch.setattr(runner, "products", scoring)
    monkeypatch.setattr(runner, "available_bytes", lambda: None)  # unknown: no check
    assert main(argv) == 0 and out.exists()


def test_progress_in_a_log_is_a_line_every_30_seconds(monkeypatch) -> None:
    """Off a terminal: a line when a stage starts, then at most one per 30 s with the
    time left, and one with the stage's duration when it ends."""
    import io

    from vault.cli import evaluate as command
    from vault.cli import progress

    clock = iter([0.0, 10.0, 31.0, 32.0, 33.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    stderr = io.StringIO()
    monkeypatch.setattr(progress.sys, "stderr", stderr)
    bar = command._progress()
    for done in (1, 2, 3, 10):
        bar("score", done, 10)
    bar("link", 4, 4)
    lines = stderr.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[0].endswith("] 1/10")
    assert lines[1].endswith("3/10, about 72 s left")  # 31 s for 3 of 10
    assert lines[2].endswith("10/10 in 32 s")
    assert lines[3].endswith("4/4 in 0 s")


def test_the_summary_prints_every_attack(dataset, tmp_path, capsys) -> None:
    """Each attack's rate is on stdout, not only the best one; hybrid adds both keys."""
    x, y = dataset
    out = tmp_path / "r.json"
    argv = ["evaluate", "--embeddings", x, "--labels", y, "--mode", "hybrid", "--json", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    doc = json.loads(out.read_text())
    for name in doc["inversion_attacks"]:
        assert f"attack {name}: " in printed
    assert "both keys" in printed
