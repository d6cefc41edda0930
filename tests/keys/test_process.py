"""Child processes tied to their parent (used for the bao server)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vault.keys.hcvault.process import start_tied_child, stop_child

_LAUNCHER = """
import sys, time
from pathlib import Path
from vault.keys.hcvault.process import start_tied_child
child = start_tied_child(["sleep", "60"], log_path=Path(sys.argv[1]))
print(child.pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # an unreaped zombie is dead for our purpose


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_child_dies_when_parent_is_killed(tmp_path: Path) -> None:
    """kill -9 of the parent also kills its tied child."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, str(tmp_path / "child.log")],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert _alive(child_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child_pid)


def test_stop_child_escalates_to_sigkill(tmp_path: Path) -> None:
    """A child that ignores SIGTERM is killed after the grace period; stopping twice is fine."""
    child = start_tied_child(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)",
        ],
        log_path=tmp_path / "child.log",
    )
    deadline = time.monotonic() + 10
    while "ready" not in (tmp_path / "child.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stop_child(child, grace_seconds=0.3) == -signal.SIGKILL
    assert stop_child(child) == -signal.SIGKILL
    assert (tmp_path / "child.log").stat().st_mode & 0o777 == 0o600
    assert not _alive(child.pid)
