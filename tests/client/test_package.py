"""The SDK package: explicit exports, and imports only the api, value types, errors and grpc."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import vault.client

PACKAGE = Path(vault.client.__file__).resolve().parent
SERVICE = PACKAGE.parent / "service"
ALLOWED_VAULT = ("vault.api", "vault.types", "vault.errors", "vault.transport", "vault.client")
ALLOWED_THIRD_PARTY = ("grpc", "grpc_health", "numpy", "google.protobuf")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_every_export_exists() -> None:
    """``__all__`` is explicit and every name in it resolves."""
    assert sorted(vault.client.__all__) == sorted(set(vault.client.__all__))
    for name in vault.client.__all__:
        assert getattr(vault.client, name) is not None
    for name in ("VaultClient", "KeyAdminClient", "ComplianceClient", "ClientError"):
        assert name in vault.client.__all__


def test_the_sdk_imports_neither_service_nor_core() -> None:
    """Only the generated api, value types, errors, transport helpers, grpc, numpy, stdlib."""
    stdlib = sys.stdlib_module_names
    strays = {
        f"{path.name}: {name}"
        for path in PACKAGE.glob("*.py")
        for name in _imports(path)
        if name != "__future__"
        and name.split(".")[0] not in stdlib
        and not _under(name, ALLOWED_VAULT + ALLOWED_THIRD_PARTY)
    }
    assert strays == set()


def test_no_client_is_left_in_the_service_package() -> None:
    """The server package defines no client and does not import the SDK."""
    for path in SERVICE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        classes = [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
        assert not [c for c in classes if c.endswith("Client")], path.name
        assert not [n for n in _imports(path) if _under(n, ("vault.client",))], path.name
