"""Nothing served reaches a decrypt-everything scoring path (issue 14, item 6).

Scoring every live subject at once (``unsafe_all_scores``) exists for in-process
evaluation only: the serving core has no such method, the collection protocol it
holds does not offer one, and no module of vault/core or vault/service calls an
``unsafe_`` scoring function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vault
from vault.core.vault import VaultCore
from vault.schemes.base import ProtectedCollection, UnsafeScoring
from vault.schemes.cancelable import CancelableCollection
from vault.schemes.ckks import CkksCollection
from vault.schemes.hybrid import HybridCollection

ROOT = Path(vault.__file__).resolve().parent
SERVED = ("core", "service")


def _is_unsafe_scoring(name: str) -> bool:
    return name.startswith("unsafe_") and "score" in name


def unsafe_scoring_calls(source: str) -> list[str]:
    """Names of ``unsafe_...score...`` functions or methods that ``source`` calls or
    imports (a call through an alias starts with an import, so both count)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if _is_unsafe_scoring(name):
                found.append(name)
        elif isinstance(node, ast.ImportFrom):
            found += [a.name for a in node.names if _is_unsafe_scoring(a.name)]
        elif isinstance(node, ast.Attribute) and _is_unsafe_scoring(node.attr):
            found.append(node.attr)  # e.g. passing collection.unsafe_all_scores along
    return found


def test_the_scan_finds_an_unsafe_scoring_call() -> None:
    """The check can fail: calls, references and imports are all seen."""
    assert unsafe_scoring_calls("c.unsafe_all_scores(p)") == ["unsafe_all_scores"] * 2
    assert unsafe_scoring_calls("f = c.unsafe_all_scores") == ["unsafe_all_scores"]
    assert unsafe_scoring_calls("from m import unsafe_scores") == ["unsafe_scores"]
    assert unsafe_scoring_calls("k.unsafe_open(1, 2)") == []  # seeds: not scoring


def test_no_served_module_calls_an_unsafe_scoring_function() -> None:
    """vault/core and vault/service never call, reference or import one."""
    offenders = {
        f"{path.relative_to(ROOT)}: {name}"
        for package in SERVED
        for path in (ROOT / package).rglob("*.py")
        for name in unsafe_scoring_calls(path.read_text(encoding="utf-8"))
    }
    assert offenders == set()


def test_the_core_has_no_decrypt_everything_method() -> None:
    """VaultCore offers no unsafe_ method and no evaluation-only scoring."""
    names = [name for name in dir(VaultCore) if "unsafe" in name or "all_scores" in name]
    assert names == []
    assert not hasattr(VaultCore, "encrypted_scores_for_evaluation")


def test_the_collection_protocol_the_core_holds_offers_no_all_scores() -> None:
    """ProtectedCollection (what the core holds) has no all-scores method; every scheme
    still offers the unsafe one to evaluation."""
    assert not [n for n in dir(ProtectedCollection) if "all_scores" in n]
    for scheme in (CkksCollection, CancelableCollection, HybridCollection):
        assert callable(scheme.unsafe_all_scores)
        assert not hasattr(scheme, "all_scores")
    assert "unsafe_all_scores" in dir(UnsafeScoring)
