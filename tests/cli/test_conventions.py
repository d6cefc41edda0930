"""CLI conventions: exit 2 on usage errors, 1 with one clear stderr line otherwise."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.cli.argtree import walk
from tests.cli.conftest import Run
from tests.service.fakes import Served, unit_rows
from vault.cli.common import Commands
from vault.cli.main import build_parser
from vault.cli.serve import settings_from_args
from vault.config import DEFAULT_TARGET, settings_from_environment
from vault.errors import ConfigurationError

REPO = Path(__file__).resolve().parents[2]
WriteNpy = Callable[[str, np.ndarray], str]
WriteIds = Callable[[str, list[str]], str]


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["no-such-command"],
        ["collection"],
        ["collection", "create", "--name", "c", "--mode", "rot13", "--dim", "4"],
        ["collection", "create", "--name", "c", "--mode", "ckks", "--dim", "0"],
        ["collection", "create", "--name", "c", "--mode", "ckks"],
        ["identify", "--collection", "c", "--templates", "q.npy", "--top-k", "0"],
        ["verify", "--collection", "c", "--template", "q.npy"],
        ["serve", "--listen", "127.0.0.1:0"],
        ["enroll", "--collection", "c", "--templates", "x.npy", "--ids", "i", "--batch-rows", "x"],
    ],
)
def test_usage_errors_exit_2(cli: Run, args: list[str]) -> None:
    """Missing or malformed flags and unknown commands are usage errors (exit 2)."""
    result = cli(*args)
    assert result.code == 2
    assert "usage:" in result.err


def test_help_exits_0(cli: Run) -> None:
    """--help is not an error."""
    assert cli("--help").code == 0


def _one_clean_line(stderr: str) -> bool:
    return (
        stderr.count("\n") == 1
        and stderr.startswith("biovault: error: ")
        and "Traceback" not in stderr
    )


def test_missing_templates_file(cli: Run, live: Served, tmp_path: Path) -> None:
    """A missing .npy file is exit 1 with one line naming it."""
    missing = str(tmp_path / "absent.npy")
    result = cli(
        "verify", "--target", live.target, "--collection", "c", "--id", "a", "--template", missing,
        "--purpose", "access",
    )  # fmt: skip
    assert result.code == 1 and _one_clean_line(result.err) and "absent.npy" in result.err


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((2, 4), np.int64), "float32 or float64"),
        (np.zeros((2, 2, 2), np.float32), "shape"),
        (np.zeros((0, 4), np.float32), "shape"),
    ],
)
def test_templates_must_be_float_matrices(
    cli: Run,
    live: Served,
    write_npy: WriteNpy,
    write_ids: WriteIds,
    array: np.ndarray,
    message: str,
) -> None:
    """Integer, 3-D or empty arrays are refused before any call, with one line."""
    result = cli(
        "enroll", "--target", live.target, "--collection", "c",
        "--templates", write_npy("t.npy", array), "--ids", write_ids("i.txt", ["a", "b"]),
        "--purpose", "access", "--consent-ref", "c-1", "--legal-basis", "consent",
    )  # fmt: skip
    assert result.code == 1 and _one_clean_line(result.err) and message in result.err
    assert live.api.calls == []


def test_not_an_npy_file(cli: Run, live: Served, tmp_path: Path) -> None:
    """A text file passed as templates is reported as not a .npy array."""
    bogus = tmp_path / "bogus.npy"
    bogus.write_text("hello")
    result = cli(
        "identify", "--target", live.target, "--collection", "c", "--templates", str(bogus),
        "--purpose", "access",
    )  # fmt: skip
    assert result.code == 1 and "not a .npy array" in result.err


def test_ids_count_must_match_rows(
    cli: Run, live: Served, write_npy: WriteNpy, write_ids: WriteIds, rng: np.random.Generator
) -> None:
    """Three ids for four rows is a clear error naming both counts."""
    result = cli(
        "enroll", "--target", live.target, "--collection", "c",
        "--templates", write_npy("t.npy", unit_rows(rng, 4, 8)),
        "--ids", write_ids("i.txt", ["a", "b", "c"]),
        "--purpose", "access", "--consent-ref", "c-1", "--legal-basis", "consent",
    )  # fmt: skip
    assert result.code == 1 and _one_clean_line(result.err)
    assert "3 ids" in result.err and "4 rows" in result.err


def test_blank_id_line_is_refused(
    cli: Run, live: Served, write_npy: WriteNpy, tmp_path: Path, rng: np.random.Generator
) -> None:
    """An empty line in the middle of the ids file is reported with its line number."""
    ids = tmp_path / "ids.txt"
    ids.write_text("a\n\nb\n")
    result = cli(
        "enroll", "--target", live.target, "--collection", "c",
        "--templates", write_npy("t.npy", unit_rows(rng, 3, 8)), "--ids", str(ids),
        "--purpose", "access", "--consent-ref", "c-1", "--legal-basis", "consent",
    )  # fmt: skip
    assert result.code == 1 and "line 2 is empty" in result.err


def test_verify_takes_exactly_one_template(
    cli: Run, live: Served, write_npy: WriteNpy, rng: np.random.Generator
) -> None:
    """A verify probe file with two rows is refused."""
    result = cli(
        "verify", "--target", live.target, "--collection", "c", "--id", "a",
        "--template", write_npy("q.npy", unit_rows(rng, 2, 8)), "--purpose", "access",
    )  # fmt: skip
    assert result.code == 1 and "exactly one" in result.err


def test_unknown_collection_is_one_line(cli: Run, live: Served) -> None:
    """A server-side NOT_FOUND becomes exit 1 with the status and message."""
    result = cli("collection", "get", "--target", live.target, "--name", "nope")
    assert result.code == 1 and _one_clean_line(result.err) and "NOT_FOUND" in result.err


def test_non_loopback_target_needs_tls(cli: Run) -> None:
    """Client commands refuse a non-loopback target in plaintext mode."""
    result = cli("collection", "get", "--target", "198.51.100.7:50051", "--name", "c")
    assert result.code == 1 and "without TLS" in result.err


def test_unwritable_json_path(cli: Run, live: Served, tmp_path: Path) -> None:
    """A --json path that cannot be written is one clear line, exit 1."""
    cli(
        "collection",
        "create",
        "--target",
        live.target,
        "--name",
        "c",
        "--mode",
        "ckks",
        "--dim",
        "4",
        "--purposes",
        "access",
    )
    target = str(tmp_path / "missing-dir" / "out.json")
    result = cli("collection", "get", "--target", live.target, "--name", "c", "--json", target)
    assert result.code == 1 and "cannot write" in result.err


def test_client_commands_default_to_the_contract_target() -> None:
    """Without --target, client commands talk to 127.0.0.1:50051."""
    args = build_parser().parse_args(["health"])
    assert args.target == DEFAULT_TARGET == "127.0.0.1:50051"


def test_serve_settings_come_from_flags_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VAULT_ADDR/VAULT_TOKEN are honoured, and a token file overrides the environment."""
    monkeypatch.setenv("VAULT_ADDR", "https://vault.internal:8200")
    monkeypatch.setenv("VAULT_TOKEN", "env-token")
    parser = build_parser()
    from_env = settings_from_args(parser.parse_args(["serve", "--data-dir", str(tmp_path)]))
    assert (from_env.hcvault_addr, from_env.hcvault_token) == (
        "https://vault.internal:8200",
        "env-token",
    )
    assert from_env.data_dir == tmp_path.resolve() and from_env.listen == "127.0.0.1:50051"
    token_file = tmp_path / "token"
    token_file.write_text("file-token\n")
    argv = [
        "serve", "--data-dir", str(tmp_path), "--vault-addr", "http://127.0.0.1:8200",
        "--vault-token-file", str(token_file), "--listen", "[::1]:6000", "--workers", "3",
    ]  # fmt: skip
    from_flags = settings_from_args(parser.parse_args(argv))
    assert (from_flags.hcvault_addr, from_flags.hcvault_token) == (
        "http://127.0.0.1:8200",
        "file-token",
    )
    assert (from_flags.listen, from_flags.workers) == ("[::1]:6000", 3)


def test_serve_refuses_a_public_listen_address(cli: Run, tmp_path: Path) -> None:
    """`serve --listen 0.0.0.0:...` without TLS exits 1 before starting anything."""
    result = cli("serve", "--data-dir", str(tmp_path / "d"), "--listen", "0.0.0.0:50051")
    assert result.code == 1 and _one_clean_line(result.err) and "without TLS" in result.err
    assert not (tmp_path / "d").exists()


def test_missing_token_file_is_one_line(cli: Run, tmp_path: Path) -> None:
    """An unreadable --vault-token-file is reported without a traceback."""
    result = cli(
        "serve", "--data-dir", str(tmp_path), "--vault-addr", "http://127.0.0.1:8200",
        "--vault-token-file", str(tmp_path / "nope"),
    )  # fmt: skip
    assert result.code == 1 and _one_clean_line(result.err) and "nope" in result.err


def test_unexpected_exceptions_are_one_line(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug inside a command (here a plugged-in command group) ends as exit 1, one line."""

    def broken(_args: argparse.Namespace) -> int:
        raise RuntimeError("boom\nsecond line")

    def register(commands: Commands) -> None:
        commands.add_parser("boom").set_defaults(handler=broken)

    monkeypatch.setattr("vault.cli.main.COMMAND_GROUPS", (register,))
    result = cli("boom")
    assert result.code == 1 and _one_clean_line(result.err)
    assert "RuntimeError: boom second line" in result.err


def test_python_dash_m_vault_is_the_same_command() -> None:
    """`python -m vault` runs the same parser and exit codes as `biovault`."""
    usage = subprocess.run(
        [sys.executable, "-m", "vault", "collection"], cwd=REPO, capture_output=True, text=True
    )
    assert usage.returncode == 2 and "usage: biovault collection" in usage.stderr
    failure = subprocess.run(
        [sys.executable, "-m", "vault", "health", "--target", "127.0.0.1:1", "--timeout", "2"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert failure.returncode == 1 and failure.stderr.count("\n") == 1


def test_biovault_target_is_the_default_of_every_client_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """BIOVAULT_TARGET replaces the default --target of each client command; --target wins."""
    monkeypatch.setenv("BIOVAULT_TARGET", "10.1.2.3:7000")
    parser = build_parser()
    clients = 0
    for path, sub in walk(parser):
        for target in (a for a in sub._actions if "--target" in a.option_strings):
            clients += 1
            assert target.default == "10.1.2.3:7000", path
    assert clients >= 15
    assert parser.parse_args(["health"]).target == "10.1.2.3:7000"
    assert parser.parse_args(["health", "--target", "127.0.0.1:1"]).target == "127.0.0.1:1"
    monkeypatch.delenv("BIOVAULT_TARGET")
    assert build_parser().parse_args(["health"]).target == DEFAULT_TARGET


def test_settings_never_show_the_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """repr and str of serve settings leave the Vault token out, from flags or environment."""
    monkeypatch.setenv("VAULT_ADDR", "https://vault.internal:8200")
    monkeypatch.setenv("VAULT_TOKEN", "s.secret-env-token")
    settings = settings_from_args(build_parser().parse_args(["serve", "--data-dir", str(tmp_path)]))
    assert settings.hcvault_token == "s.secret-env-token"
    for text in (repr(settings), str(settings), f"{settings}"):
        assert "secret-env-token" not in text and "hcvault_addr" in text


def test_environment_is_read_in_one_place(tmp_path: Path) -> None:
    """settings_from_environment takes VAULT_* from the mapping it is given; flags win."""
    env = {"VAULT_ADDR": "https://a:8200", "VAULT_CACERT": "/ca.pem", "VAULT_ROLE_ID": "r"}
    with pytest.raises(ConfigurationError, match="AppRole"):
        settings_from_environment(tmp_path, environ=env)
    env["VAULT_SECRET_ID_FILE"] = "~/sid"
    settings = settings_from_environment(tmp_path, environ=env, hcvault_addr="https://b:8200")
    assert (settings.hcvault_addr, settings.hcvault_ca_file) == ("https://b:8200", "/ca.pem")
    assert settings.hcvault_secret_id_file == Path("~/sid").expanduser()
    assert settings_from_environment(tmp_path, environ={}).hcvault_addr is None
