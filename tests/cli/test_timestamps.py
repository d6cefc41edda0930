"""Every time in every JSON output is RFC 3339, against a real service on real OpenBao.

One service answers collection, enrol, delete (with receipt), retention, key status
and rotation, and the audit commands; every time-like field of every output must
parse as RFC 3339 (null only where a time is not set), and the JSON log lines too.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.openbao import DevServer
from tests.support.service import ServiceProcess, run_cli
from tests.support.synthetic import identities
from vault.cli.common import rfc3339
from vault.cli.logsetup import JsonLineFormatter

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_TIME_KEYS = frozenset(
    {"time", "cutoff", "deadline", "created", "first_entry", "last_entry", "last_run"}
)


def _times(document: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) whose key names a time: *_at and the audit report's time keys."""
    if isinstance(document, dict):
        for key, value in document.items():
            here = f"{path}.{key}"
            if key.endswith("_at") or key in _TIME_KEYS:
                yield here, value
            else:
                yield from _times(value, here)
    elif isinstance(document, list):
        for index, item in enumerate(document):
            yield from _times(item, f"{path}[{index}]")


def _check(document: Any) -> int:
    """Assert every time field is RFC 3339 (or null); return how many were set."""
    set_ = 0
    for where, value in _times(document):
        if value is None:
            continue
        assert isinstance(value, str) and _RFC3339.fullmatch(value), (where, value)
        assert datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None, where
        set_ += 1
    return set_


def test_the_helper_writes_rfc3339_utc() -> None:
    """rfc3339 gives the audit log's own format; 0 and None are 'not set'."""
    when = datetime(2026, 12, 2, 1, 2, 3, 250_000, tzinfo=UTC).timestamp()
    assert rfc3339(when) == "2026-12-02T01:02:03.250000Z"
    assert rfc3339(0.0) is None and rfc3339(None) is None


def test_json_log_lines_use_the_same_format() -> None:
    """`serve --log-format json` stamps each line the same way."""
    record = logging.LogRecord("vault", logging.INFO, __file__, 1, "hello", None, None)
    line = json.loads(JsonLineFormatter().format(record))
    assert _check(line) == 1 and line["time"].endswith("Z")


@pytest.fixture(scope="module")
def service(
    openbao_dev: DevServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    root = tmp_path_factory.mktemp("timestamps")
    served = ServiceProcess(
        root / "data",
        root / "serve.log",
        vault_addr=openbao_dev.addr,
        token=openbao_dev.token,
        extra_args=("--kek-name", f"times-{uuid.uuid4().hex[:10]}"),
    ).start()
    yield served
    served.stop()


def _json(*args: str) -> Any:
    done = run_cli(*args, "--json", "-")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_json_output_writes_rfc3339_times(service: ServiceProcess, tmp_path: Path) -> None:
    """Collections, erasures, receipts, retention, key status and rotation, audit outputs."""
    t = ("--target", service.target)
    rng = np.random.default_rng(3)
    np.save(tmp_path / "x.npy", identities(3, 8, rng))
    (tmp_path / "ids.txt").write_text("a\nb\nc\n")
    enrol = ("--purpose", "access", "--consent-ref", "C-1", "--legal-basis", "consent")
    outputs: dict[str, Any] = {}
    for name, extra in (("faces", ()), ("brief", ("--retention", "1s"))):
        outputs[f"create {name}"] = _json(
            "collection", "create", *t, "--name", name, "--mode", "ckks", "--dim", "8",
            "--purposes", "access", *extra,
        )  # fmt: skip
        _json("enroll", *t, "--collection", name, "--templates", str(tmp_path / "x.npy"),
              "--ids", str(tmp_path / "ids.txt"), *enrol)  # fmt: skip
    outputs["get"] = _json("collection", "get", *t, "--name", "faces")
    receipt = tmp_path / "a.json"
    outputs["delete"] = _json(
        "delete", *t, "--collection", "faces", "--id", "a", "--receipt", str(receipt)
    )
    outputs["receipt file"] = json.loads(receipt.read_text())
    time.sleep(1.5)  # past the 1 s retention of "brief"
    outputs["retention"] = _json("retention", "enforce", *t)
    outputs["rotate kek"] = _json("keys", "rotate", "kek", *t)
    outputs["status"] = _json("keys", "status", *t)
    key = tmp_path / "log.pub"
    outputs["public-key"] = _json("audit", "public-key", *t, "--out", str(key))
    checkpoint = tmp_path / "last.checkpoint"
    outputs["checkpoint"] = _json("audit", "checkpoint", *t, "--out", str(checkpoint))
    bundle = tmp_path / "bundle"
    outputs["export"] = _json("audit", "export", *t, "--out", str(bundle))
    offline = ("--bundle", str(bundle), "--public-key", str(key))
    outputs["verify"] = _json("audit", "verify", *offline, "--previous-checkpoint", str(checkpoint))
    outputs["report"] = _json("audit", "report", *offline)
    outputs["verify-receipt"] = _json(
        "audit", "verify-receipt", "--receipt", str(receipt), "--public-key", str(key)
    )
    counts = {name: _check(document) for name, document in outputs.items()}
    for name in ("create faces", "get", "delete", "retention", "rotate kek", "status"):
        assert counts[name] >= 1, (name, outputs[name])
    assert counts["report"] >= 5 and counts["verify-receipt"] == 1
    assert outputs["public-key"]["public_key"] == key.read_text().strip()
    assert outputs["checkpoint"]["tree_size"] <= outputs["export"]["tree_size"]
    erased = [e for e in outputs["report"]["erasures"] if e["action"] == "retention.erase"]
    assert len(erased) == 3 and all(_RFC3339.fullmatch(e["time"]) for e in erased)


def test_bench_and_evaluate_write_no_other_time_format(tmp_path: Path) -> None:
    """The offline measurements carry no wall-clock time in another format either."""
    from vault.cli.main import main

    rng = np.random.default_rng(5)
    centres = identities(10, 16, rng)
    rows = np.repeat(centres, 3, axis=0) + 0.7 * rng.normal(size=(30, 16)) / 4.0
    np.save(tmp_path / "e.npy", rows / np.linalg.norm(rows, axis=1, keepdims=True))
    np.save(tmp_path / "l.npy", np.repeat(np.arange(10), 3))
    runs = {
        "evaluate": ["evaluate", "--embeddings", str(tmp_path / "e.npy"),
                     "--labels", str(tmp_path / "l.npy"), "--mode", "ckks"],
        "bench": ["bench", "--gallery", "64", "--dim", "16", "--probes", "2", "--batch", "2",
                  "--no-memory", "--curve-points", "1", "--naive-sample", "4"],
    }  # fmt: skip
    for name, argv in runs.items():
        out = tmp_path / f"{name}.json"
        assert main([*argv, "--json", str(out)]) == 0, name
        document = json.loads(out.read_text())
        _check(document)
        floats = [w for w, v in _times(document) if isinstance(v, (int, float))]
        assert not floats, (name, floats)
