"""The matching-node example of docs/sdk.md runs as written against a real service."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.service import ServiceProcess
from vault.audit.note import NoteVerifier
from vault.audit.receipt import verify_receipt
from vault.client import ComplianceClient, DeleteResult, Match, VaultClient, VerifyResult

DOC = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"
MARKER = "<!-- sdk-example: matching-node"
DOC_TARGET = "127.0.0.1:50051"


def matching_node_example() -> str:
    """The python block right after the marker comment in docs/sdk.md."""
    text = DOC.read_text(encoding="utf-8")
    assert text.count(MARKER) == 1, "docs/sdk.md must mark exactly one matching-node example"
    found = re.search(r"```python\n(.*?)```", text[text.index(MARKER) :], re.S)
    assert found is not None, "no python block after the example marker"
    return found.group(1)


def test_example_is_short_and_uses_the_documented_names() -> None:
    """The example is about ten lines and calls every documented matching-node method."""
    code = matching_node_example()
    lines = [line for line in code.splitlines() if line.strip()]
    assert len(lines) <= 15
    assert "from vault.client import VaultClient" in code
    assert code.count(DOC_TARGET) == 1
    for call in ("create_collection(", "enroll(", "verify(", "identify(", "delete("):
        assert f"vc.{call}" in code


def test_example_runs_against_a_real_service(
    real_service: ServiceProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run as written (pointed at the test service): typed results, right answers."""
    code = matching_node_example().replace(DOC_TARGET, real_service.target)
    scope: dict[str, object] = {"__name__": "sdk_example"}
    exec(compile(code, str(DOC), "exec"), scope)  # the documentation's own code

    assert scope["n"] == 3
    verified = scope["v"]
    assert isinstance(verified, VerifyResult)
    assert verified.match is True
    assert isinstance(verified.score, float) and verified.score > 0.9
    ranked = scope["r"]
    assert isinstance(ranked, list) and len(ranked) == 2
    assert all(isinstance(m, Match) for row in ranked for m in row)
    assert [row[0].subject_id for row in ranked] == ["bob", "carol"]
    # Identify answers only candidates at or above the threshold: unrelated random
    # templates never are, so each probe finds itself alone.
    assert all(len(row) == 1 for row in ranked)
    erased = scope["e"]
    assert isinstance(erased, DeleteResult)
    assert erased.erased == 1 and erased.subject_id == "alice"
    assert "3 True" in capsys.readouterr().out

    assert erased.receipt is not None
    with ComplianceClient(real_service.target, timeout=30) as audit:
        verifier = NoteVerifier(audit.public_key())
    _, checkpoint = verify_receipt(erased.receipt, verifier)
    assert checkpoint.size == erased.receipt.leaf_index + 1
    with VaultClient(real_service.target, timeout=30) as vc:
        assert vc.get_collection("faces").size == 2
        after = vc.verify("faces", "alice", scope["templates"][0], purpose="access")  # type: ignore[index]
    assert after.match is False
