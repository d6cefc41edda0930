"""The he package's modules import one another without a cycle (keyset owns the workers)."""

from __future__ import annotations

import ast
from pathlib import Path

import vault.he

PACKAGE = Path(vault.he.__file__).resolve().parent


def _module_name(path: Path) -> str:
    return "vault.he" if path.stem == "__init__" else f"vault.he.{path.stem}"


def _imported(node: ast.AST) -> list[str]:
    """Modules an import statement names, with ``from vault.he import x`` as vault.he.x."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return []


def import_graph() -> dict[str, set[str]]:
    """Every import between vault.he's own modules, at run time or under TYPE_CHECKING
    (ast.walk reaches imports inside functions and ``if TYPE_CHECKING:`` blocks alike).
    The package's ``__init__`` is left out: importing any submodule runs it anyway."""
    modules = {_module_name(p): p for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[name] = {
            target
            for node in ast.walk(tree)
            for target in _imported(node)
            if target in modules and target != name
        }
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` as a path of module names, or [] if it is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check can fail: a two-module loop is reported as a path."""
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_the_he_package_has_no_import_cycle() -> None:
    """No module of vault.he reaches itself through imports (keyset -> workers -> host)."""
    graph = import_graph()
    assert "vault.he.workers" in graph["vault.he.keyset"]
    assert _cycle(graph) == []
