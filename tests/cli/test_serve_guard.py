"""`serve` off loopback needs a real key server unless the unsafe development flag says so."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.cli.conftest import Run
from vault.cli.common import CommandError
from vault.cli.main import build_parser, main
from vault.cli.serve import _require_key_server, settings_from_args


def _tls_args(tmp_path: Path) -> list[str]:
    pki = tmp_path / "pki"
    assert main(["certs", "dev", "--out", str(pki)]) == 0
    return [
        "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
        "--client-ca", str(pki / "ca.pem"),
    ]  # fmt: skip


@pytest.fixture(autouse=True)
def _no_vault_addr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAULT_ADDR", raising=False)


def test_public_listen_without_vault_addr_is_refused(cli: Run, tmp_path: Path) -> None:
    """TLS on 0.0.0.0 with no --vault-addr/VAULT_ADDR: exit 1, one line, data dir untouched."""
    data = tmp_path / "data"
    result = cli(
        "serve", "--data-dir", str(data), "--listen", "0.0.0.0:50051", *_tls_args(tmp_path)
    )
    lines = result.err.strip().splitlines()
    assert result.code == 1 and len(lines) == 1, result.err
    assert lines[0].startswith("biovault: error: refusing to serve 0.0.0.0:50051")
    assert "--vault-addr" in lines[0] and "--dev-embedded-key-server-unsafe" in lines[0]
    assert not data.exists()


@pytest.mark.parametrize("listen", ["0.0.0.0:50051", "[::]:50051", "vault.example:50051"])
def test_the_unsafe_flag_allows_it_with_a_loud_warning(
    tmp_path: Path, listen: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With --dev-embedded-key-server-unsafe the guard passes and logs an UNSAFE warning."""
    argv = ["serve", "--data-dir", str(tmp_path), "--listen", listen, *_tls_args(tmp_path)]
    args = build_parser().parse_args([*argv, "--dev-embedded-key-server-unsafe"])
    with caplog.at_level(logging.WARNING):
        _require_key_server(args, settings_from_args(args))
    assert any("UNSAFE" in r.getMessage() for r in caplog.records)
    refused = build_parser().parse_args(argv)
    with pytest.raises(CommandError, match="embedded key server"):
        _require_key_server(refused, settings_from_args(refused))


def test_a_real_vault_or_loopback_needs_no_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """VAULT_ADDR or --vault-addr off loopback, and loopback with the embedded default, pass."""
    tls = _tls_args(tmp_path)
    parser = build_parser()
    public = ["serve", "--data-dir", str(tmp_path), "--listen", "0.0.0.0:50051", *tls]
    with caplog.at_level(logging.WARNING):
        for argv in (
            [*public, "--vault-addr", "https://vault.internal:8200"],
            ["serve", "--data-dir", str(tmp_path), "--listen", "127.0.0.1:50051", *tls],
            ["serve", "--data-dir", str(tmp_path)],  # `make run`
        ):
            args = parser.parse_args(argv)
            _require_key_server(args, settings_from_args(args))
        monkeypatch.setenv("VAULT_ADDR", "https://vault.internal:8200")
        args = parser.parse_args(public)
        _require_key_server(args, settings_from_args(args))
    assert not caplog.records
