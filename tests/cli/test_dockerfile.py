"""The image's CMD and HEALTHCHECK are valid commands that use TLS on its public listener."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vault.cli.common import client_tls
from vault.cli.main import build_parser

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def _instruction(name: str) -> str:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    found = re.findall(rf"^{name}\s+(.*)$", text, flags=re.MULTILINE)
    assert found, name
    return found[-1]


def _env() -> dict[str, str]:
    pairs = re.findall(r"(\w+)=(\S+)", _instruction("ENV"))
    return dict(pairs)


def test_cmd_serves_with_mutual_tls_on_all_interfaces() -> None:
    """The default command listens on 0.0.0.0 and names all three TLS files."""
    args = build_parser().parse_args(json.loads(_instruction("CMD")))
    assert args.listen.startswith("0.0.0.0:")
    assert None not in (args.tls_cert, args.tls_key, args.client_ca)


def test_healthcheck_speaks_tls_with_the_healthcheck_certificate(monkeypatch) -> None:
    """With the image's environment the health check connects with TLS and a client cert."""
    command = json.loads(_instruction("HEALTHCHECK").split("CMD", 1)[1])
    assert command[:2] == ["biovault", "health"]
    for name, value in _env().items():
        monkeypatch.setenv(name, value)
    tls = client_tls(build_parser().parse_args(command[1:]))
    assert tls is not None and tls.cert_file is not None and tls.key_file is not None
    assert "healthcheck" in str(tls.cert_file)


@pytest.mark.skipif(not (Path(sys.executable).parent / "hadolint").exists(), reason="no hadolint")
def test_hadolint_is_clean() -> None:
    """The Dockerfile passes hadolint."""
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint is not None
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
