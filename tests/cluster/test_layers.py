"""Only vault/cluster imports ray; the merge of per-shard top-k is exact."""

from __future__ import annotations

import ast
from pathlib import Path

import vault
from vault.cluster.engine import _merge
from vault.cluster.shard import owner_of

PACKAGE = Path(vault.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_cluster_package_imports_ray() -> None:
    """Every other module of the package is free of ray (the core sees an engine seam)."""
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if "ray" in _imports(p) and p.parent.name != "cluster"
    ]
    assert offenders == []
    assert "ray" in _imports(PACKAGE / "cluster" / "engine.py")


def test_blocks_are_dealt_round_robin() -> None:
    """Block b lives on shard b mod N: growth keeps shards even, no block ever moves."""
    assert [owner_of(b, 3) for b in range(7)] == [0, 1, 2, 0, 1, 2, 0]


def test_merge_keeps_the_best_k_over_all_shards() -> None:
    """Per probe, the merged list is the k best (block, slot, score) of every shard."""
    shard0 = [[(0, 5, 0.9), (2, 1, 0.4)], [(0, 7, 0.1)]]
    shard1 = [[(1, 3, 0.95), (1, 9, 0.2)], [(1, 1, 0.3), (3, 2, 0.25)]]
    merged = _merge([shard0, shard1], probes=2, k=2)
    assert merged == [[(1, 3, 0.95), (0, 5, 0.9)], [(1, 1, 0.3), (3, 2, 0.25)]]
    assert _merge([[[]], [[]]], probes=1, k=3) == [[]]
