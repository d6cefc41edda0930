"""Regenerate the committed protobuf/gRPC modules from ``protos/``.

Run ``python -m vault.api.regenerate`` (or ``make proto``) after editing a
``.proto`` file. The output is written next to this package so the generated
imports (``from vault.api.v1 import vault_pb2``) resolve; a test regenerates into
a temporary directory and fails on any difference from the committed files.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

__all__ = ["PROTO_FILES", "PROTO_ROOT", "REPO_ROOT", "generated_paths", "main", "regenerate"]

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO_ROOT / "protos"
PROTO_FILES: tuple[str, ...] = (
    "vault/api/v1/vault.proto",
    "vault/api/v1/admin.proto",
    "vault/api/v1/compliance.proto",
    "vault/api/v1/transform_keys.proto",
    "vault/api/v1/cluster.proto",
)
_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generated_paths(out_dir: Path) -> list[Path]:
    """List the files protoc writes for :data:`PROTO_FILES` under ``out_dir``.

    Args:
        out_dir: Root the generated package tree is written under.

    Returns:
        The generated module and stub paths, in a stable order.
    """
    paths: list[Path] = []
    for proto in PROTO_FILES:
        stem = proto.removesuffix(".proto")
        paths.extend(out_dir / f"{stem}{suffix}" for suffix in _SUFFIXES)
    return paths


def regenerate(out_dir: Path = REPO_ROOT, proto_root: Path = PROTO_ROOT) -> list[Path]:
    """Run ``grpc_tools.protoc`` over :data:`PROTO_FILES`.

    Args:
        out_dir: Root to write ``vault/api/...`` under (the repository by default).
        proto_root: Directory the ``.proto`` import paths are relative to.

    Returns:
        The paths written.

    Raises:
        RuntimeError: If protoc reports an error.
    """
    from grpc_tools import protoc  # a development dependency, imported only here

    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"--proto_path={proto_root}",
        f"--proto_path={well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *PROTO_FILES,
    ]
    status = protoc.main(args)
    if status != 0:
        raise RuntimeError(f"protoc failed with status {status}")
    return generated_paths(out_dir)


def main() -> int:
    """Regenerate into the repository and list the files written."""
    for path in regenerate():
        print(path.relative_to(REPO_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
