"""The CLI's one progress display, as enroll, keys rotate, evaluate and bench use it."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest

from vault.cli import progress
from vault.cli.progress import Progress

CLI = Path(progress.__file__).parent


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _clock(monkeypatch: pytest.MonkeyPatch, *times: float) -> None:
    ticks = iter(times)
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(ticks))


def test_enroll_lines_in_a_log_keep_their_wording(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off a terminal: the first chunk, then one line per 30 s, then the end, with percent."""
    _clock(monkeypatch, 0.0, 5.0, 40.0, 41.0)
    log = io.StringIO()
    sent = Progress("enroll", unit=" templates", percent=True, stream=log).counter("sent", 50)
    for done in (7, 14, 21, 50):
        sent(done)
    assert log.getvalue().splitlines() == [
        "enroll: sent 7/50 templates (14%)",
        "enroll: sent 21/50 templates (42%), about 55 s left",
        "enroll: sent 50/50 templates (100%) in 41 s",
    ]


def test_a_terminal_line_is_redrawn_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal one line is rewritten (at most twice a second) and ended at the end;
    a note or a new stage first ends an unfinished line."""
    _clock(monkeypatch, 0.0, 0.1, 0.7, 0.8, 0.9)
    tty = _Terminal()
    shown = Progress("keys rotate kek", stream=tty)
    shown("rewrap", 1, 4, "faces")
    shown("rewrap", 2, 4, "faces")  # 0.1 s later: skipped
    shown("rewrap", 3, 4, "faces")
    shown.note("trimmed v1")
    shown("trim", 1, 1)
    assert tty.getvalue() == (
        "\rkeys rotate kek: rewrap 1/4 faces\x1b[K"
        "\rkeys rotate kek: rewrap 3/4 faces\x1b[K\n"
        "keys rotate kek: trimmed v1\n"
        "\rkeys rotate kek: trim 1/1 in 0 s\n"
    )


def test_every_command_uses_the_shared_display() -> None:
    """No command module writes progress of its own: the display lives in one module."""
    for name in ("templates", "keys", "evaluate", "bench"):
        tree = ast.parse((CLI / f"{name}.py").read_text())
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "vault.cli.progress"
            for alias in node.names
        }
        classes = [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
        assert imported == {"Progress"} and not classes, name


def test_key_rotations_log_every_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """`keys rotate` off a terminal writes a line per step: each batch is a durable step
    an operator (or a crash test) must see."""
    from vault.cli.keys import _progress_printer
    from vault.cli.main import build_parser

    _clock(monkeypatch, 0.0, 0.1, 0.2, 0.3)
    log = io.StringIO()
    monkeypatch.setattr(progress.sys, "stderr", log)
    shown = _progress_printer(build_parser().parse_args(["keys", "rotate", "kek"]))
    assert shown is not None
    for done in range(1, 5):
        shown("rewrap", done, 5, "")
    assert log.getvalue().splitlines() == [f"keys rotate kek: rewrap {n}/5" for n in range(1, 5)]
    assert (
        _progress_printer(build_parser().parse_args(["keys", "rotate", "kek", "--quiet"])) is None
    )
