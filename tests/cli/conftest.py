"""Fixtures: the fake core served on loopback, plus helpers to run the CLI in-process."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.service.conftest import client, fake, live, rng  # noqa: F401 - shared fixtures
from vault.cli.main import main


@dataclass(frozen=True)
class Result:
    """Exit code and captured output of one CLI run."""

    code: int
    out: str
    err: str


Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """Undo the root handlers an in-process ``serve`` installs.

    They write to the stderr pytest captured for that test; left behind, every later
    log record would hit the closed capture and print a logging error.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    """Run ``main(args)`` and capture its exit code, stdout and stderr."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def write_npy(tmp_path: Path) -> Callable[[str, np.ndarray], str]:
    """Save an array under tmp_path and return its path."""

    def write(name: str, array: np.ndarray) -> str:
        path = tmp_path / name
        np.save(path, array)
        return str(path)

    return write


@pytest.fixture
def write_ids(tmp_path: Path) -> Callable[[str, list[str]], str]:
    """Write ids one per line under tmp_path and return the path."""

    def write(name: str, ids: list[str]) -> str:
        path = tmp_path / name
        path.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
        return str(path)

    return write
