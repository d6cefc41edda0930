"""docs/architecture.md's table of rooms and imports matches the code's imports.

A room is a sub-package of vault (``keys/hcvault`` is a room of its own); "base" is
the single modules errors, types, blob, config, deadline and transport. Every import
counts: at run time, under TYPE_CHECKING, or inside a function.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import vault

ROOT = Path(vault.__file__).resolve().parent
DOC = ROOT.parent / "docs" / "architecture.md"
BASE = {"errors", "types", "blob", "config", "deadline", "transport"}


def _room_of(parts: list[str]) -> str | None:
    """The room of a module given as path parts under vault/ (None: not in a room)."""
    if not parts:
        return None
    if len(parts) == 1:
        if (ROOT / parts[0]).is_dir():  # `from vault.cluster import X`: the package itself
            return parts[0]
        return "base" if parts[0] in BASE else None  # __init__, __main__: no room
    if parts[0] == "keys" and parts[1] == "hcvault":
        return "keys/hcvault"
    return parts[0]


def code_graph() -> dict[str, set[str]]:
    """Room -> rooms it imports, read from the source."""
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        room = _room_of(parts)
        if room is None or room == "base":
            continue
        targets = graph.setdefault(room, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("vault."):
                    target = _room_of(name.split(".")[1:])
                    if target is not None and target != room:
                        targets.add(target)
    return graph


def doc_graph(text: str) -> dict[str, set[str] | None]:
    """Room -> rooms from the doc's ``| room | imports |`` table (None: a future room)."""
    table = text.split("| room | imports |", 1)[1].split("\n\n", 1)[0]
    graph: dict[str, set[str] | None] = {}
    for line in table.splitlines()[2:]:
        room_cell, imports_cell = (cell.strip() for cell in line.strip("|").split("|"))
        room = room_cell.strip("`")
        if imports_cell == "(future)":
            graph[room] = None
        else:
            graph[room] = {name.strip().strip("`") for name in imports_cell.split(",")}
    return graph


def test_the_table_parser_reads_rooms_and_future_rooms() -> None:
    """The check can fail: a row is read as its room and the set of its imports."""
    text = "| room | imports |\n|---|---|\n| `a` | `b`, base |\n| `c` | (future) |\n\nafter"
    assert doc_graph(text) == {"a": {"b", "base"}, "c": None}


def test_the_architecture_table_matches_the_imports() -> None:
    """Every room of the code has its row, and each row lists exactly its imports."""
    documented = doc_graph(DOC.read_text(encoding="utf-8"))
    actual = code_graph()
    missing = sorted(r for r in actual if documented.get(r) is None and r not in documented)
    assert missing == [], f"add a row for {missing} to docs/architecture.md"
    wrong = {
        room: (sorted(documented[room] or ()), sorted(targets))
        for room, targets in actual.items()
        if documented[room] is not None and documented[room] != targets
    }
    assert wrong == {}
    assert re.search(r"evaluation's unsafe path", DOC.read_text(encoding="utf-8"))
