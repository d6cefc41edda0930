"""The committed generated code must equal a fresh protoc run over protos/."""

from __future__ import annotations

from pathlib import Path

from vault.api import regenerate


def test_committed_code_matches_a_fresh_regeneration(tmp_path: Path) -> None:
    """Regenerating into a temporary directory reproduces every committed file byte for byte."""
    fresh = regenerate.regenerate(out_dir=tmp_path)
    committed = regenerate.generated_paths(regenerate.REPO_ROOT)
    assert [p.relative_to(tmp_path) for p in fresh] == [
        p.relative_to(regenerate.REPO_ROOT) for p in committed
    ]
    stale = [
        str(old.relative_to(regenerate.REPO_ROOT))
        for new, old in zip(fresh, committed, strict=True)
        if new.read_bytes() != old.read_bytes()
    ]
    assert not stale, f"run `make proto`: stale generated files {stale}"


def test_generated_modules_import_inside_the_package() -> None:
    """The gRPC module imports its messages from vault.api.v1 and names the versioned service."""
    from vault.api.v1 import vault_pb2, vault_pb2_grpc

    source = Path(vault_pb2_grpc.__file__).read_text(encoding="utf-8")
    assert "from vault.api.v1 import vault_pb2" in source
    service = vault_pb2.DESCRIPTOR.services_by_name["TemplateVault"]
    assert service.full_name == "biovault.v1.TemplateVault"
    assert [m.name for m in service.methods] == [
        "CreateCollection",
        "GetCollection",
        "Enroll",
        "Verify",
        "Identify",
        "Delete",
        "DeleteMany",
    ]
    assert service.methods_by_name["Enroll"].client_streaming


def test_every_proto_file_is_generated() -> None:
    """Each .proto under protos/ is listed for generation, so none is forgotten."""
    on_disk = sorted(
        str(p.relative_to(regenerate.PROTO_ROOT)) for p in regenerate.PROTO_ROOT.rglob("*.proto")
    )
    assert on_disk == sorted(regenerate.PROTO_FILES)
